import { PayloadCache } from './download-server.js';

describe('PayloadCache (image payloads held in memory for downloads)', () => {
  const payloadOf = (id: string, size: number) => Buffer.alloc(size, id.charCodeAt(0));

  test('devices asking at once share one read; a payload too large to hold is streamed instead', async () => {
    const reads: string[] = [];
    const sizes: Record<string, number> = { a: 100, big: 200 };
    const cache = new PayloadCache(async function* (id) {
      reads.push(id);
      yield payloadOf(id, sizes[id]!);
    }, 1000);
    const [one, two] = await Promise.all([cache.get('a', 100), cache.get('a', 100)]);
    expect(one?.equals(payloadOf('a', 100))).toBe(true);
    expect(two).toBe(one);
    expect(reads).toEqual(['a']);
    // More than an eighth of the budget: not held.
    expect(cache.get('big', 200)).toBeNull();
  });

  test('the least recently used payload goes first when the budget is exceeded', async () => {
    const reads: string[] = [];
    const cache = new PayloadCache(async function* (id) {
      reads.push(id);
      yield payloadOf(id, 100);
    }, 800);
    for (const id of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']) await cache.get(id, 100);
    await cache.get('a', 100); // a is used again: b is now the oldest
    await cache.get('i', 100);
    expect(cache.size).toBe(8);
    reads.length = 0;
    await cache.get('a', 100);
    await cache.get('b', 100);
    expect(reads).toEqual(['b']);
  });

  test('a payload that could not be read, or whose size is not the image\'s, is not kept', async () => {
    let broken = true;
    const cache = new PayloadCache(async function* (id) {
      if (broken) throw new Error('disk error');
      yield payloadOf(id, 10);
    }, 1000);
    await expect(cache.get('a', 10)).rejects.toThrow('disk error');
    broken = false;
    await expect(cache.get('a', 11)).rejects.toThrow('not 11');
    await expect(cache.get('a', 10)).resolves.toHaveLength(10);
  });
});
