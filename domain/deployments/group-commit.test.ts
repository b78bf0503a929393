import { GroupCommit, OK, type Outcome } from './group-commit.js';

describe('GroupCommit', () => {
  test('items submitted together are stored as one batch, and each settles only after its batch is stored', async () => {
    const batches: number[][] = [];
    let release: () => void = () => undefined;
    const stored = new Set<number>();
    const commit = new GroupCommit<number>(async (items) => {
      batches.push([...items]);
      if (batches.length === 1) await new Promise<void>((resolve) => (release = resolve));
      for (const i of items) stored.add(i);
      return items.map((): Outcome => OK);
    });
    const first = [1, 2, 3].map((i) => commit.submit(i).then(() => expect(stored.has(i)).toBe(true)));
    await new Promise((resolve) => setImmediate(resolve));
    // While the first batch is being stored, later items wait and go together into the next.
    const later = [4, 5].map((i) => commit.submit(i).then(() => expect(stored.has(i)).toBe(true)));
    release();
    await Promise.all([...first, ...later]);
    expect(batches).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
  });

  test('a refused item fails alone; a batch that cannot be stored fails every item in it', async () => {
    let fail = false;
    const commit = new GroupCommit<number>(async (items) => {
      if (fail) throw new Error('database down');
      return items.map((i): Outcome => (i < 0 ? { ok: false, error: new Error(`refused ${i}`) } : OK));
    });
    const results = await Promise.allSettled([commit.submit(1), commit.submit(-1), commit.submit(2)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    fail = true;
    const failed = await Promise.allSettled([commit.submit(3), commit.submit(4)]);
    expect(failed.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'stored'))).toEqual(['database down', 'database down']);
    // It goes on after a failure.
    fail = false;
    await expect(commit.submit(5)).resolves.toBeUndefined();
  });

  test('a batch holds at most maxBatch items', async () => {
    const sizes: number[] = [];
    const commit = new GroupCommit<number>(async (items) => {
      sizes.push(items.length);
      return items.map((): Outcome => OK);
    }, 2);
    await Promise.all([1, 2, 3, 4, 5].map((i) => commit.submit(i)));
    expect(sizes).toEqual([2, 2, 1]);
  });
});
