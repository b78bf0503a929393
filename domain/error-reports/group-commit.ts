/**
 * Group commit: callers queue work one item at a time; one flush at a time stores everything queued so far in one
 * go. While a flush runs, new items wait and form the next one, so batches grow with the load by themselves and a
 * lone item waits only for the next turn of the event loop, never for a timer.
 */
export interface GroupCommitOptions {
  /** Most items in one flush; the rest wait for the next. */
  readonly maxItems: number;
}

/**
 * `flush` must settle every item it is given itself (it is never retried here) and should not throw; if it does,
 * its items are failed with that error so no caller waits for ever.
 */
export function createGroupCommit<T extends { reject(error: unknown): void }>(flush: (items: readonly T[]) => Promise<void>, opts: GroupCommitOptions) {
  const pending: T[] = [];
  let running = false;

  async function drain(): Promise<void> {
    try {
      while (pending.length > 0) {
        const items = pending.splice(0, opts.maxItems);
        try {
          await flush(items);
        } catch (error) {
          for (const item of items) item.reject(error);
        }
      }
    } finally {
      running = false;
    }
  }

  return function enqueue(item: T): void {
    pending.push(item);
    if (running) return;
    running = true;
    // Not at once: the other messages of the same socket read are queued in this turn and join the flush.
    setImmediate(() => void drain());
  };
}
