/**
 * Runs tasks one after another per key, in the order they were queued. The broker sees a device's events in
 * order (connected, status, disconnected, a takeover's new connection), but the domain calls they cause are
 * asynchronous: chaining them per device keeps their effects in the same order.
 *
 * Tasks queued one after another with the same `group` run together instead (each starts, in queue order, once the
 * task before the group has finished; the next task outside the group waits for all of them): for work whose
 * callee keeps the order itself, such as error reports, which the writer stores in the order it was handed them.
 */
export class SerialQueue {
  private readonly tails = new Map<string, Promise<unknown>>();
  /** Per key, the group the last queued task belongs to: what it started after, and its tail. */
  private readonly groups = new Map<string, { readonly name: string; readonly before: Promise<unknown>; readonly tail: Promise<unknown> }>();

  run<T>(key: string, task: () => Promise<T>, group?: string): Promise<T> {
    const open = this.groups.get(key);
    const joins = group !== undefined && open !== undefined && open.name === group && this.tails.get(key) === open.tail;
    const previous = joins ? open.before : (this.tails.get(key) ?? Promise.resolve());
    // A failed task must not block the device's next one: its caller sees the failure, the chain goes on.
    const result = previous.then(task, task);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    const tail = joins ? Promise.all([open.tail, settled]) : settled;
    this.tails.set(key, tail);
    if (group === undefined) this.groups.delete(key);
    else this.groups.set(key, { name: group, before: previous, tail });
    void tail.then(() => {
      if (this.tails.get(key) !== tail) return;
      this.tails.delete(key);
      this.groups.delete(key);
    });
    return result;
  }

  /** Keys with work queued or running. */
  get size(): number {
    return this.tails.size;
  }
}
