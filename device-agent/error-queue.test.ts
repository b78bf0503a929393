import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ErrorEvent } from '../contract/mqtt/messages.js';
import { ErrorQueue, FileErrorQueueStore, MemoryErrorQueueStore, type ErrorQueueState, type ErrorQueueStore } from './error-queue.js';

const event = (description: string): ErrorEvent => ({
  eventId: randomUUID(),
  category: 'OSCrash',
  description,
  count: 1,
  startTime: '2026-12-02T10:15:00.000Z',
  endTime: '2026-12-02T10:15:00.000Z',
});

const descriptions = (events: readonly ErrorEvent[]): Array<string | undefined> => events.map((e) => e.description);

describe('ErrorQueue', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spheregate-error-queue-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps events first in, first out', async () => {
    const queue = new ErrorQueue(new MemoryErrorQueueStore(), 10);
    await queue.load();
    for (const d of ['a', 'b', 'c']) await queue.push(event(d));
    expect(descriptions(queue.peek(10))).toEqual(['a', 'b', 'c']);
    expect(descriptions(queue.peek(2))).toEqual(['a', 'b']);
    expect(queue.size).toBe(3);
    expect(queue.droppedTotal).toBe(0);
  });

  it('When full, then it drops the oldest events and counts them in droppedTotal', async () => {
    const queue = new ErrorQueue(new MemoryErrorQueueStore(), 3);
    await queue.load();
    const results = [];
    for (const d of ['a', 'b', 'c', 'd', 'e']) results.push(await queue.push(event(d)));
    expect(results.map((r) => r.dropped)).toEqual([0, 0, 0, 1, 1]);
    expect(descriptions(queue.peek(10))).toEqual(['c', 'd', 'e']);
    expect(queue.size).toBe(3);
    expect(queue.droppedTotal).toBe(2);
  });

  it('removes acknowledged events by ID and ignores unknown IDs', async () => {
    const queue = new ErrorQueue(new MemoryErrorQueueStore(), 10);
    const [a, b, c] = [event('a'), event('b'), event('c')];
    for (const e of [a, b, c]) await queue.push(e);
    await queue.remove([a.eventId, c.eventId, randomUUID()]);
    expect(descriptions(queue.peek(10))).toEqual(['b']);
  });

  it('survives a restart on the same file: the events and droppedTotal come back', async () => {
    const path = join(dir, 'device.errors.json');
    const first = new ErrorQueue(new FileErrorQueueStore(path), 2);
    await first.load();
    for (const d of ['a', 'b', 'c']) await first.push(event(d));

    const second = new ErrorQueue(new FileErrorQueueStore(path), 2);
    await second.load();
    expect(descriptions(second.peek(10))).toEqual(['b', 'c']);
    expect(second.droppedTotal).toBe(1);
    expect(second.peek(10)).toEqual(first.peek(10));
    // Owner-only, and no temporary file left behind.
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['device.errors.json']);
  });

  it('persists removals', async () => {
    const path = join(dir, 'device.errors.json');
    const first = new ErrorQueue(new FileErrorQueueStore(path), 10);
    const [a, b] = [event('a'), event('b')];
    await first.push(a);
    await first.push(b);
    await first.remove([a.eventId]);

    const second = new ErrorQueue(new FileErrorQueueStore(path), 10);
    await second.load();
    expect(second.peek(10)).toEqual([b]);
  });

  it('keeps every event of concurrent pushes and removals (saves run one at a time, in order)', async () => {
    const path = join(dir, 'device.errors.json');
    const queue = new ErrorQueue(new FileErrorQueueStore(path), 1000);
    const early = event('early');
    await queue.push(early);
    const pushed = Array.from({ length: 25 }, (_, i) => event(`e${i}`));
    await Promise.all([...pushed.map((e) => queue.push(e)), queue.remove([early.eventId])]);
    expect(queue.size).toBe(25);

    const reloaded = new ErrorQueue(new FileErrorQueueStore(path), 1000);
    await reloaded.load();
    expect(descriptions(reloaded.peek(100))).toEqual(pushed.map((e) => e.description));
  });

  it('never runs two saves at once', async () => {
    let active = 0;
    let most = 0;
    const saved: ErrorQueueState[] = [];
    const slow: ErrorQueueStore = {
      load: async () => null,
      save: async (state) => {
        active++;
        most = Math.max(most, active);
        await new Promise((resolve) => setTimeout(resolve, 2));
        saved.push(state);
        active--;
      },
    };
    const queue = new ErrorQueue(slow, 100);
    await Promise.all(Array.from({ length: 10 }, (_, i) => queue.push(event(`e${i}`))));
    expect(most).toBe(1);
    expect(saved.at(-1)?.events).toHaveLength(10);
  });

  it('When the stored queue is larger than the capacity, then it keeps the newest and counts the rest as dropped', async () => {
    const store = new MemoryErrorQueueStore();
    await store.save({ events: [event('a'), event('b'), event('c')], droppedTotal: 4 });
    const queue = new ErrorQueue(store, 2);
    await queue.load();
    expect(descriptions(queue.peek(10))).toEqual(['b', 'c']);
    expect(queue.droppedTotal).toBe(5);
  });

  it('refuses a capacity below 1', () => {
    expect(() => new ErrorQueue(new MemoryErrorQueueStore(), 0)).toThrow(RangeError);
  });

  describe('FileErrorQueueStore', () => {
    it('lives beside the identity file', () => {
      expect(FileErrorQueueStore.besideIdentity('devices/ABC.json').path).toBe('devices/ABC.errors.json');
      expect(FileErrorQueueStore.besideIdentity('devices/ABC').path).toBe('devices/ABC.errors.json');
    });

    it('loads a missing file as null', async () => {
      expect(await new FileErrorQueueStore(join(dir, 'missing.errors.json')).load()).toBeNull();
    });

    it.each([
      ['not JSON', '{', /not valid JSON/],
      ['another format', JSON.stringify({ certificatePem: 'x' }), /not an error queue file/],
      ['a broken event', JSON.stringify({ version: 1, droppedTotal: 0, events: [{ eventId: 'x' }] }), /events\[0\]/],
    ])('When the file holds %s, then loading fails instead of discarding events', async (_what, text, message) => {
      const path = join(dir, 'device.errors.json');
      await writeFile(path, text);
      await expect(new FileErrorQueueStore(path).load()).rejects.toThrow(message);
      await expect(new ErrorQueue(new FileErrorQueueStore(path), 10).push(event('a'))).rejects.toThrow(message);
      // The file is left as it was.
      expect(await readFile(path, 'utf8')).toBe(text);
    });
  });
});
