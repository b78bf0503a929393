/**
 * Group commit: callers submit one item each and get its own result, but the items are written together. When
 * the writer is idle, a batch is taken at the end of the current I/O turn (so the other messages of one socket read
 * join it, and a lone item is written at once); items submitted while a write is in flight go into the next one, so
 * batches grow with the load by themselves. With a window, a batch taken while writes keep coming (one ended less
 * than a second ago) waits that long for company. A burst costs one transaction (one fsync on SQLite) per batch
 * instead of one per item; whoever acknowledges an item after awaiting it acknowledges something stored.
 *
 * Used for device presence (connections and status reports), error reports and update reports: every write a fleet
 * makes at once.
 */

/** Writes the batch; returns, per item in the same order, its result or the error that item alone failed with. */
export type BatchWriter<I, O> = (items: readonly I[]) => Promise<ReadonlyArray<O | Error>>;

export interface GroupCommitOptions<I> {
  /** Most items in one batch; the rest wait for the next. */
  readonly maxBatch: number;
  /** How long a batch waits for company while the writer is busy (default 0: never longer than the I/O turn). */
  readonly windowMs?: number;
  /** Items with the same key never share a batch (a later one waits for the next), so a batch can address its rows by key. */
  readonly keyOf?: (item: I) => string;
}

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

  constructor(
    private readonly write: BatchWriter<I, O>,
    private readonly options: GroupCommitOptions<I>,
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
            if (i >= results.length) return w.reject(new Error('group commit: the writer returned no result for an item'));
            const result = results[i];
            if (result instanceof Error) w.reject(result);
            else w.resolve(result as O);
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
      const windowMs = this.options.windowMs ?? 0;
      const busy = performance.now() - this.lastWriteEnded < BUSY_MS;
      if (windowMs > 0 && busy) setTimeout(resolve, windowMs);
      else setImmediate(resolve);
    });
  }

  /** Up to maxBatch waiting items (with distinct keys, if keyed), in submission order; the rest keep their order. */
  private takeBatch(): Array<Waiting<I, O>> {
    const { maxBatch, keyOf } = this.options;
    if (!keyOf) return this.waiting.splice(0, maxBatch);
    const batch: Array<Waiting<I, O>> = [];
    const rest: Array<Waiting<I, O>> = [];
    const keys = new Set<string>();
    for (const w of this.waiting) {
      const key = keyOf(w.item);
      if (batch.length < maxBatch && !keys.has(key)) {
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
