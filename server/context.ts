/**
 * What every resolver receives. The actor is the only identity a resolver knows; it passes it to the domain, which
 * alone decides what the actor may do.
 */
import type { EventBus } from '../domain/events/event-bus.js';
import type { Services } from '../domain/services.js';
import type { Actor } from '../domain/shared/actor.js';
import type { Logger } from '../domain/shared/logger.js';
import type { RequestCache } from './request-cache.js';

export interface GatewayContext {
  /** null: no key was sent (only `health` is answered). A bad or revoked key never gets this far. */
  readonly actor: Actor | null;
  readonly requestId: string;
  readonly services: Services;
  readonly bus: EventBus;
  /** Already bound to requestId. */
  readonly log: Logger;
  /** Memoises reads within one operation (Device.product for 500 devices is one lookup per product). */
  readonly cache: RequestCache;
  /** How many undelivered events one subscription may hold before the oldest are dropped. */
  readonly subscriptionBufferSize: number;
  /**
   * Re-checks the key this context was built from. A subscription outlives its HTTP-style request, so it asks
   * again before delivering events: a revoked key stops receiving them. Answers at once (no promise) when it
   * needs no lookup, which is nearly always: it runs before every delivery of a fan-out.
   */
  readonly credentialStillValid: () => boolean | Promise<boolean>;
}
