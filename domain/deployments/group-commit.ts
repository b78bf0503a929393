/**
 * Group commit: items submitted while a batch is being stored wait and go together into the next one, so a fleet
 * reporting at once costs one transaction (one fsync) per batch instead of one per report. Each submitter's
 * promise settles only once its batch has been stored (or with its own refusal), so whatever acknowledges an item
 * after awaiting it acknowledges something stored.
 */
export type Outcome<R = void> = { readonly ok: true; readonly value: R } | { readonly ok: false; readonly error: unknown };

export const OK: Outcome = { ok: true, value: undefined };
export const refused = (error: unknown): Outcome<never> => ({ ok: false, error });

interface Waiting<T, R> {
  readonly item: T;
  readonly resolve: (value: R) => void;
  readonly reject: (error: unknown) => void;
}

/** Also batches reads the same way (`store` then only reads): many devices' lookups in one query each. */
export class GroupCommit<T, R = void> {
  private queue: Waiting<T, R>[] = [];
  private draining = false;

  /** `store` stores a batch and answers one outcome per item, in order; if it throws, every item of the batch fails. */
  constructor(
    private readonly store: (items: readonly T[]) => Promise<ReadonlyArray<Outcome<R>>>,
    private readonly maxBatch = 256,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.draining) return;
      this.draining = true;
      // Gathers what arrives in the same turn of the event loop before storing the first batch.
      setImmediate(() => void this.drain());
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const outcomes = await this.store(batch.map((w) => w.item));
        batch.forEach((w, i) => {
          const outcome = outcomes[i];
          if (outcome === undefined) w.reject(new Error('the batch answered no outcome for this item'));
          else if (outcome.ok) w.resolve(outcome.value);
          else w.reject(outcome.error);
        });
      } catch (error) {
        for (const w of batch) w.reject(error);
      }
    }
    this.draining = false;
  }
}
