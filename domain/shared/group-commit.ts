/**
 * Group commit: callers submit one item each and get its own result, but the items are written together. When
 * the writer is idle, a batch is taken at the end of the current I/O turn (a lone item is written at once); while
 * writes keep coming (one ended less than a second ago), a batch waits a short window for company, and items
 * submitted while a write is in flight go into the next one. So a burst costs one transaction (one fsync on
 * SQLite) per window instead of one per item, and no item waits more than the window plus the writes ahead of it.
 * The same works for reads that many callers make at once (one `IN (...)` query instead of one query each).
 */

/** Writes the batch; returns, per item in the same order, its result or the error that item alone failed with. */
export type BatchWriter<I, O> = (items: readonly I[]) => Promise<ReadonlyArray<O | Error>>;

/** A writer whose last write ended this recently is busy: the next batch waits its window. */
const BUSY_MS = 1_000;

interface Waiting<I, O> {
  readonly item: I;
  readonly resolve: (value: O) => void;
  readonly reject: (error: unknown) => void;
}

export class GroupCommit<I, O> {
  private waiting: Array<Waiting<I, O>> = [];
  private draining = false;
  /** performance.now() when the last write ended; -Infinity before the first. */
  private lastWriteEnded = Number.NEGATIVE_INFINITY;

  /**
   * @param keyOf items with the same key never share a batch (a later one waits for the next), so a batch can
   *   address its rows by key.
   * @param windowMs how long a batch waits for company while the writer is busy (0: never longer than the I/O turn).
   */
  constructor(
    private readonly write: BatchWriter<I, O>,
    private readonly keyOf: (item: I) => string,
    private readonly maxBatch: number,
    private readonly windowMs = 0,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (!this.draining) {
        this.draining = true;
        void this.drain();
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.waiting.length > 0) {
        await this.gather();
        const batch = this.takeBatch();
        try {
          const results = await this.write(batch.map((w) => w.item));
          batch.forEach((w, i) => {
            const result = results[i];
            if (result instanceof Error) w.reject(result);
            else if (result === undefined) w.reject(new Error('group commit: the writer returned no result for an item'));
            else w.resolve(result);
          });
        } catch (error) {
          for (const w of batch) w.reject(error);
        }
        this.lastWriteEnded = performance.now();
      }
    } finally {
      this.draining = false;
    }
  }

  private gather(): Promise<void> {
    return new Promise<void>((resolve) => {
      const busy = performance.now() - this.lastWriteEnded < BUSY_MS;
      if (this.windowMs > 0 && busy) setTimeout(resolve, this.windowMs);
      else setImmediate(resolve);
    });
  }

  /** Up to maxBatch waiting items with distinct keys, in submission order; the rest keep their order. */
  private takeBatch(): Array<Waiting<I, O>> {
    const batch: Array<Waiting<I, O>> = [];
    const rest: Array<Waiting<I, O>> = [];
    const keys = new Set<string>();
    for (const w of this.waiting) {
      const key = this.keyOf(w.item);
      if (batch.length < this.maxBatch && !keys.has(key)) {
        keys.add(key);
        batch.push(w);
      } else {
        rest.push(w);
      }
    }
    this.waiting = rest;
    return batch;
  }
}
