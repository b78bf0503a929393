/**
 * An async iterator over the event bus for one subscription. The bus pushes; a subscriber pulls at its own pace
 * over a network. The buffer in between is bounded: when a slow subscriber falls `capacity` events behind, the
 * oldest are dropped (the bus is a notification channel, so a client that missed events re-reads state; holding
 * everything would let one stalled socket grow the heap without end). Dropping is logged once when it starts and
 * once, with the count, when the subscriber has caught up.
 *
 * Written by hand rather than as an async generator: a generator's return() waits behind a pending next(), so a
 * subscription with no events could never be ended and its bus handler would leak. Here return() ends at once.
 */
import type { EventBus } from '../../domain/events/event-bus.js';
import type { DomainEvent } from '../../domain/events/events.js';
import type { Logger } from '../../domain/shared/logger.js';

export const DEFAULT_SUBSCRIPTION_BUFFER = 256;

export interface BusStreamOptions<T> {
  /** Maps an event to what the subscriber receives, or null to skip it. Runs on the bus's delivery path: keep it cheap and never throw. */
  readonly select: (event: DomainEvent) => T | null;
  /** @default 256 */
  readonly capacity?: number;
  /**
   * Runs before each delivery; an error (thrown, or a rejection) ends the stream with it (e.g. the key was
   * revoked). Returns nothing when it can decide at once: it runs for every delivery of a fan-out.
   */
  readonly beforeDeliver?: (item: T) => void | Promise<void>;
  readonly log: Logger;
}

type Waiter<T> = { resolve: (r: IteratorResult<T, undefined>) => void; reject: (e: unknown) => void };

export class BusStream<T> implements AsyncIterableIterator<T, undefined> {
  readonly #queue: T[] = [];
  readonly #waiters: Waiter<T>[] = [];
  readonly #capacity: number;
  readonly #options: BusStreamOptions<T>;
  #unsubscribe: (() => void) | null;
  #dropped = 0;

  constructor(bus: EventBus, options: BusStreamOptions<T>) {
    this.#options = options;
    this.#capacity = Math.max(1, options.capacity ?? DEFAULT_SUBSCRIPTION_BUFFER);
    this.#unsubscribe = bus.subscribe((event) => this.#push(event));
  }

  /** Undelivered items right now (for tests and metrics). */
  get buffered(): number {
    return this.#queue.length;
  }

  get closed(): boolean {
    return this.#unsubscribe === null;
  }

  #push(event: DomainEvent): void {
    if (this.closed) return;
    let item: T | null;
    try {
      item = this.#options.select(event);
    } catch (e) {
      // The bus contract says handlers must not throw; a broken filter must not starve other subscribers.
      this.#options.log.error({ err: e instanceof Error ? e.message : String(e) }, 'subscription filter failed; event skipped');
      return;
    }
    if (item === null) return;
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter.resolve({ done: false, value: item });
      return;
    }
    this.#queue.push(item);
    if (this.#queue.length > this.#capacity) {
      this.#queue.shift();
      if (this.#dropped === 0) this.#options.log.warn({ capacity: this.#capacity }, 'slow subscriber: dropping its oldest events');
      this.#dropped++;
    }
  }

  // Promise chains rather than async/await: this runs for every delivery of a fan-out, and each await costs.
  next(): Promise<IteratorResult<T, undefined>> {
    const check = this.#options.beforeDeliver;
    const taken = this.#take();
    return check ? taken.then((result) => (result.done ? result : this.#checked(result, check))) : taken;
  }

  #checked(result: IteratorYieldResult<T>, check: (item: T) => void | Promise<void>): IteratorResult<T, undefined> | Promise<IteratorResult<T, undefined>> {
    const fail = (e: unknown): never => {
      this.#close();
      throw e;
    };
    // return() may have been called while the check ran: a closed stream delivers nothing more.
    const deliver = (): IteratorResult<T, undefined> => (this.closed ? { done: true, value: undefined } : result);
    let pending: void | Promise<void>;
    try {
      pending = check(result.value);
    } catch (e) {
      return fail(e);
    }
    return pending ? pending.then(deliver, fail) : deliver();
  }

  #take(): Promise<IteratorResult<T, undefined>> {
    if (this.#queue.length > 0) {
      const value = this.#queue.shift() as T;
      if (this.#queue.length === 0 && this.#dropped > 0) {
        this.#options.log.warn({ dropped: this.#dropped }, 'slow subscriber caught up; events were dropped');
        this.#dropped = 0;
      }
      return Promise.resolve({ done: false, value });
    }
    if (this.closed) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  async return(): Promise<IteratorResult<T, undefined>> {
    this.#close();
    return { done: true, value: undefined };
  }

  async throw(error: unknown): Promise<IteratorResult<T, undefined>> {
    this.#close();
    throw error;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #close(): void {
    if (this.#unsubscribe === null) return;
    this.#unsubscribe();
    this.#unsubscribe = null;
    this.#queue.length = 0;
    for (const waiter of this.#waiters.splice(0)) waiter.resolve({ done: true, value: undefined });
  }
}
