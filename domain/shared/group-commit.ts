/**
 * Group commit: callers submit one item each and get its own result, but the items are written together. A batch
 * is taken a short window after its first item arrived (or at the end of the current I/O turn, for a window of 0),
 * and items submitted while a write is in flight go into the next one. So a burst costs one transaction (one
 * fsync on SQLite) per window instead of one per item, and no item waits more than the window plus the writes
 * ahead of it.
 */

/** Writes the batch; returns, per item in the same order, its result or the error that item alone failed with. */
export type BatchWriter<I, O> = (items: readonly I[]) => Promise<ReadonlyArray<O | Error>>;

interface Waiting<I, O> {
  readonly item: I;
  readonly resolve: (value: O) => void;
  readonly reject: (error: unknown) => void;
}

export class GroupCommit<I, O> {
  private waiting: Array<Waiting<I, O>> = [];
  private draining = false;

  /**
   * @param keyOf items with the same key never share a batch (a later one waits for the next), so a batch can
   *   address its rows by key.
   * @param windowMs how long a batch waits for company after its first item (0: until the I/O turn ends).
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
      }
    } finally {
      this.draining = false;
    }
  }

  private gather(): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.windowMs > 0) setTimeout(resolve, this.windowMs);
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
