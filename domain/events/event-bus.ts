import type { DomainEvent } from './events.js';

export type EventHandler = (event: DomainEvent) => void;

/**
 * Port for announcing committed facts across the cluster. Implementations: in-memory (one process) and Redis
 * (scale-out). Delivery is at-most-once and in publish order per publisher; handlers must not throw.
 */
export interface EventBus {
  publish(event: DomainEvent): Promise<void>;
  /** Returns an unsubscribe function. */
  subscribe(handler: EventHandler): () => void;
  close(): Promise<void>;
}
