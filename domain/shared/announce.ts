import type { EventBus } from '../events/event-bus.js';
import type { DomainEvent } from '../events/events.js';
import type { Logger } from './logger.js';

/**
 * Publishes a fact that is already committed. A failing bus must not turn a stored fact into an error for the
 * caller: subscribers that miss it re-read the database, so the failure is logged and swallowed.
 */
export async function announce(bus: EventBus, log: Logger, event: DomainEvent): Promise<void> {
  try {
    await bus.publish(event);
  } catch (e) {
    log.warn({ eventType: event.type, err: e instanceof Error ? e.message : String(e) }, 'could not publish event');
  }
}
