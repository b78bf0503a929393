import { GroupCommit } from '../../domain/shared/group-commit.js';

/** A writer that records each batch it was given and answers after the test lets it. */
function recordingWriter() {
  const batches: string[][] = [];
  let release: () => void = () => undefined;
  let gate = Promise.resolve();
  return {
    batches,
    hold: () => {
      gate = new Promise<void>((resolve) => (release = resolve));
    },
    release: () => release(),
    write: async (items: readonly string[]) => {
      batches.push([...items]);
      await gate;
      return items.map((item) => (item.startsWith('bad') ? new Error(`refused ${item}`) : item.toUpperCase()));
    },
  };
}

const keyOf = (item: string): string => item.split('#')[0] ?? item;

test('items submitted together share one write, and each caller gets its own result or error', async () => {
  const w = recordingWriter();
  const group = new GroupCommit(w.write, { maxBatch: 10, keyOf });
  const results = await Promise.allSettled(['a', 'bad', 'c'].map((item) => group.submit(item)));
  expect(w.batches).toEqual([['a', 'bad', 'c']]);
  expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual(['A', 'refused bad', 'C']);
});

test('items submitted while a write is in flight go into the next write; a key never appears twice in one', async () => {
  const w = recordingWriter();
  const group = new GroupCommit(w.write, { maxBatch: 2, keyOf });
  w.hold();
  const first = group.submit('a#1');
  await new Promise((resolve) => setImmediate(resolve));
  expect(w.batches).toEqual([['a#1']]);
  const later = ['a#2', 'b', 'c', 'd'].map((item) => group.submit(item));
  w.release();
  await Promise.all([first, ...later]);
  expect(w.batches).toEqual([['a#1'], ['a#2', 'b'], ['c', 'd']]);
});

test('a writer that throws fails its whole batch, and the next batch still runs', async () => {
  let calls = 0;
  const group = new GroupCommit(
    async (items: readonly string[]) => {
      calls++;
      if (calls === 1) throw new Error('database down');
      return [...items];
    },
    { maxBatch: 10, keyOf },
  );
  await expect(Promise.all([group.submit('a'), group.submit('b')])).rejects.toThrow('database down');
  await expect(group.submit('c')).resolves.toBe('c');
});

test('a lone item is written at once; while writes keep coming, items within the window share a write', async () => {
  const w = recordingWriter();
  const group = new GroupCommit(w.write, { maxBatch: 10, keyOf, windowMs: 40 });
  const started = performance.now();
  await group.submit('a');
  expect(performance.now() - started).toBeLessThan(30);
  const second = group.submit('b');
  await new Promise((resolve) => setTimeout(resolve, 10));
  const third = group.submit('c');
  await Promise.all([second, third]);
  expect(w.batches).toEqual([['a'], ['b', 'c']]);
});

test('without a key, a batch takes up to maxBatch items in order, and a writer may answer undefined for "stored"', async () => {
  const batches: number[][] = [];
  const group = new GroupCommit<number, void>(
    async (items) => {
      batches.push([...items]);
      return items.map(() => undefined);
    },
    { maxBatch: 2 },
  );
  const results = await Promise.allSettled([1, 2, 3, 4, 5].map((i) => group.submit(i)));
  expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
  expect(batches).toEqual([[1, 2], [3, 4], [5]]);
});

test('an item the writer gave no answer for is failed, not left waiting', async () => {
  const group = new GroupCommit<string, string>(async (items) => items.slice(0, 1), { maxBatch: 10 });
  const results = await Promise.allSettled([group.submit('a'), group.submit('b')]);
  expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
});
