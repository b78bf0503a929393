/**
 * Runs tasks one after another per key, in the order they were queued. The broker sees a device's events in
 * order (connected, status, disconnected, a takeover's new connection), but the domain calls they cause are
 * asynchronous: chaining them per device keeps their effects in the same order.
 */
export class SerialQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    // A failed task must not block the device's next one: its caller sees the failure, the chain goes on.
    const result = previous.then(task, task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Keys with work queued or running. */
  get size(): number {
    return this.tails.size;
  }
}
