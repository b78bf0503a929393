/**
 * The EventBus for one process. Delivery is synchronous and in publish order; an event published by a handler
 * while another is being delivered waits its turn, so every subscriber sees the same order.
 */
import type { EventBus, EventHandler } from '../../domain/events/event-bus.js';
import type { DomainEvent } from '../../domain/events/events.js';
import { silentLogger, type Logger } from '../../domain/shared/logger.js';

export class MemoryEventBus implements EventBus {
  private readonly handlers = new Set<EventHandler>();
  private readonly queue: DomainEvent[] = [];
  private delivering = false;
  private closed = false;

  constructor(private readonly log: Logger = silentLogger) {}

  async publish(event: DomainEvent): Promise<void> {
    // After close (shutdown), a late announcement of a committed fact is dropped, not an error: the bus is a
    // notification channel and the fact is already in the database.
    if (this.closed) return;
    this.queue.push(event);
    if (this.delivering) return;
    this.delivering = true;
    try {
      for (let next = this.queue.shift(); next; next = this.queue.shift()) this.deliver(next);
    } finally {
      this.delivering = false;
    }
  }

  subscribe(handler: EventHandler): () => void {
    if (this.closed) return () => undefined;
    // Wrapped so the same function subscribed twice gets two independent subscriptions.
    const wrapped: EventHandler = (e) => handler(e);
    this.handlers.add(wrapped);
    return () => {
      this.handlers.delete(wrapped);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.handlers.clear();
    this.queue.length = 0;
  }

  private deliver(event: DomainEvent): void {
    // A snapshot: a handler that unsubscribes (or subscribes) during delivery does not disturb this round.
    for (const handler of [...this.handlers]) {
      try {
        handler(event);
      } catch (e) {
        // One broken subscriber must not starve the others.
        this.log.error({ err: e instanceof Error ? e.message : String(e), eventType: event.type }, 'event handler threw');
      }
    }
  }
}
