/**
 * How an event on the bus reaches the subscriptions of a graphql-ws server's connections: grouped by
 * connection. Each connection's subscriptions are handed the event one after another, so their deliveries run
 * in step and their frames are written back to back, which lets them leave in one write (see
 * coalesceConsecutiveFrames). Subscribed to the bus one by one, a socket's subscriptions would be interleaved
 * with every other socket's. The server holds one handler on the bus, and only while some connection has a
 * subscription.
 */
import type { EventBus, EventHandler } from '../../domain/events/event-bus.js';
import type { DomainEvent } from '../../domain/events/events.js';
import type { Logger } from '../../domain/shared/logger.js';

export class FanOut {
  readonly #bus: EventBus;
  readonly #active = new Set<ConnectionBus>();
  #unsubscribe: (() => void) | null = null;

  constructor(bus: EventBus) {
    this.#bus = bus;
  }

  /** The event bus as one connection's subscriptions see it. */
  connection(log: Logger): ConnectionBus {
    return new ConnectionBus(this, this.#bus, log);
  }

  /** @internal A connection's first subscription started. */
  activate(connection: ConnectionBus): void {
    this.#active.add(connection);
    this.#unsubscribe ??= this.#bus.subscribe((event) => {
      // A snapshot: connections that come or go during delivery do not disturb this round.
      for (const target of [...this.#active]) target.deliver(event);
    });
  }

  /** @internal A connection's last subscription ended (or it closed). */
  deactivate(connection: ConnectionBus): void {
    if (!this.#active.delete(connection) || this.#active.size > 0) return;
    this.#unsubscribe?.();
    this.#unsubscribe = null;
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

  /** @internal Hands the event to each of the connection's subscriptions. */
  deliver(event: DomainEvent): void {
    // A snapshot: a handler that unsubscribes (or subscribes) during delivery does not disturb this round.
    for (const handler of [...this.#handlers]) {
      try {
        handler(event);
      } catch (e) {
        // One broken subscription must not starve the others.
        this.#log.error({ err: e instanceof Error ? e.message : String(e), eventType: event.type }, 'event handler threw');
      }
    }
  }
}
