/**
 * Builds the GatewayContext for one HTTP operation or one graphql-ws operation. Authentication happened before;
 * this only assembles what resolvers receive.
 */
import type { EventBus } from '../domain/events/event-bus.js';
import type { Services } from '../domain/services.js';
import type { Actor } from '../domain/shared/actor.js';
import type { Logger } from '../domain/shared/logger.js';
import type { GatewayContext } from './context.js';
import { createRequestCache, noRequestCache } from './request-cache.js';

export interface ContextDeps {
  readonly services: Services;
  readonly bus: EventBus;
  readonly subscriptionBufferSize: number;
}

const alwaysValid = (): boolean => true;

export function httpContext(deps: ContextDeps, actor: Actor | null, requestId: string, log: Logger): GatewayContext {
  return {
    actor,
    requestId,
    log,
    services: deps.services,
    bus: deps.bus,
    cache: createRequestCache(),
    subscriptionBufferSize: deps.subscriptionBufferSize,
    // An HTTP operation is short: the key was checked when it arrived.
    credentialStillValid: alwaysValid,
  };
}

export function socketContext(
  deps: ContextDeps,
  actor: Actor,
  requestId: string,
  log: Logger,
  credentialStillValid: () => boolean | Promise<boolean>,
): GatewayContext {
  return {
    actor,
    requestId,
    log,
    services: deps.services,
    bus: deps.bus,
    // A subscription context lives as long as the subscription: a cache would serve stale products and groups.
    cache: noRequestCache,
    subscriptionBufferSize: deps.subscriptionBufferSize,
    credentialStillValid,
  };
}
