/**
 * How an event on the bus reaches the subscriptions of a graphql-ws server's connections.
 *
 * Grouped by connection: each connection's subscriptions are handed the event one after another, so their
 * deliveries run in step and their frames are written back to back, which lets them leave in one write (see
 * coalesceConsecutiveFrames). Subscribed to the bus one by one, a socket's subscriptions would be interleaved
 * with every other socket's.
 *
 * In slices: an event for thousands of subscriptions is handed to about `slice` of them per turn of the event
 * loop. Each slice's deliveries run (and their frames leave) before the next slice starts, so the first
 * subscribers get the event while the rest are still being served, instead of every frame waiting for the
 * whole fan-out. Events still reach every connection in publish order: an event is handed to all its connections
 * before the next event starts. Slicing never lets a backlog build up: past `MAX_SLICED_EVENTS` waiting events
 * (the server cannot keep up), all of them are handed over at once, and each subscription's bounded buffer
 * (BusStream) applies its drop-oldest policy as it would without slicing.
 *
 * The server holds one handler on the bus, and only while some connection has a subscription.
 */
import type { EventBus, EventHandler } from '../../domain/events/event-bus.js';
import type { DomainEvent } from '../../domain/events/events.js';
import type { Logger } from '../../domain/shared/logger.js';

/** Subscriptions handed an event per turn of the event loop (a connection is never split). */
export const DEFAULT_FAN_OUT_SLICE = 32;
/** Events waiting for their slices past which the backlog is handed over at once. */
export const MAX_SLICED_EVENTS = 16;

interface Pending {
  readonly event: DomainEvent;
  /** The connections with subscriptions when the event arrived; later ones get later events only. */
  readonly targets: readonly ConnectionBus[];
  next: number;
}

export class FanOut {
  readonly #bus: EventBus;
  readonly #slice: number;
  readonly #active = new Set<ConnectionBus>();
  readonly #pending: Pending[] = [];
  #unsubscribe: (() => void) | null = null;
  #running = false;

  constructor(bus: EventBus, slice: number = DEFAULT_FAN_OUT_SLICE) {
    this.#bus = bus;
    this.#slice = Math.max(1, slice);
  }

  /** The event bus as one connection's subscriptions see it. */
  connection(log: Logger): ConnectionBus {
    return new ConnectionBus(this, this.#bus, log);
  }

  /** @internal A connection's first subscription started. */
  activate(connection: ConnectionBus): void {
    this.#active.add(connection);
    this.#unsubscribe ??= this.#bus.subscribe((event) => this.#enqueue(event));
  }

  /** @internal A connection's last subscription ended (or it closed). */
  deactivate(connection: ConnectionBus): void {
    if (!this.#active.delete(connection) || this.#active.size > 0) return;
    this.#unsubscribe?.();
    this.#unsubscribe = null;
  }

  #enqueue(event: DomainEvent): void {
    this.#pending.push({ event, targets: [...this.#active], next: 0 });
    if (this.#pending.length > MAX_SLICED_EVENTS) this.#deliver(Number.POSITIVE_INFINITY);
    else if (!this.#running) this.#run();
  }

  readonly #run = (): void => {
    this.#running = true;
    this.#deliver(this.#slice);
    if (this.#pending.length > 0) setImmediate(this.#run);
    else this.#running = false;
  };

  /** Hands out pending events, oldest first, to about `budget` subscriptions. */
  #deliver(budget: number): void {
    for (let head = this.#pending[0]; head && budget > 0; head = this.#pending[0]) {
      while (head.next < head.targets.length && budget > 0) budget -= (head.targets[head.next++] as ConnectionBus).deliver(head.event);
      if (head.next >= head.targets.length) this.#pending.shift();
    }
  }
}

export class ConnectionBus implements EventBus {
  readonly #fanOut: FanOut;
  readonly #bus: EventBus;
  readonly #log: Logger;
  readonly #handlers = new Set<EventHandler>();
  #closed = false;

  constructor(fanOut: FanOut, bus: EventBus, log: Logger) {
    this.#fanOut = fanOut;
    this.#bus = bus;
    this.#log = log;
  }

  /** Handlers held right now (for tests). */
  get handlers(): number {
    return this.#handlers.size;
  }

  publish(event: DomainEvent): Promise<void> {
    return this.#bus.publish(event);
  }

  subscribe(handler: EventHandler): () => void {
    if (this.#closed) return () => undefined;
    // Wrapped so the same function subscribed twice gets two independent subscriptions.
    const wrapped: EventHandler = (e) => handler(e);
    this.#handlers.add(wrapped);
    if (this.#handlers.size === 1) this.#fanOut.activate(this);
    return () => {
      if (this.#handlers.delete(wrapped) && this.#handlers.size === 0) this.#fanOut.deactivate(this);
    };
  }

  /** Ends every subscription's delivery; the connection holds nothing on the bus after this. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#handlers.clear();
    this.#fanOut.deactivate(this);
  }

  /** @internal Hands the event to each subscription; returns how many there were. */
  deliver(event: DomainEvent): number {
    // A snapshot: a handler that unsubscribes (or subscribes) during delivery does not disturb this round.
    const handlers = [...this.#handlers];
    for (const handler of handlers) {
      try {
        handler(event);
      } catch (e) {
        // One broken subscription must not starve the others.
        this.#log.error({ err: e instanceof Error ? e.message : String(e), eventType: event.type }, 'event handler threw');
      }
    }
    return handlers.length;
  }
}
