/**
 * What every tenant subscription shares: the domain's policy decides who may watch (any tenant role) and its
 * answer scopes the stream to that tenant; a key revoked after subscribing stops receiving at its next event.
 */
import type { DomainEvent } from '../../domain/events/events.js';
import { authorizeTenant } from '../../domain/shared/authorize.js';
import { isDomainError, unauthenticated } from '../../domain/shared/errors.js';
import type { DeviceView } from '../../domain/views.js';
import type { GatewayContext } from '../context.js';
import { BusStream } from './bus-stream.js';

const revokedUnless = (valid: boolean): void => {
  if (!valid) throw unauthenticated('The API key was revoked');
};

export function tenantEventStream<T>(ctx: GatewayContext, select: (tenantId: string) => (event: DomainEvent) => T | null): BusStream<T> {
  const { tenantId } = authorizeTenant(ctx.actor, 'tenant.read');
  return new BusStream(ctx.bus, {
    select: select(tenantId),
    capacity: ctx.subscriptionBufferSize,
    log: ctx.log,
    beforeDeliver: () => {
      const valid = ctx.credentialStillValid();
      if (typeof valid === 'boolean') return revokedUnless(valid);
      return valid.then(revokedUnless);
    },
  });
}

/**
 * Makes the subscription root value `{ [field]: event }` once per event: every subscriber of that event gets the
 * same object, which lets their executions be shared (shared-execution.ts). What each subscriber receives is
 * still decided per subscriber, by its filter, before this is called.
 */
export function sharedRootValue<F extends string>(field: F): <E extends object>(event: E) => Record<F, E> {
  const made = new WeakMap<object, Record<F, object>>();
  return <E extends object>(event: E): Record<F, E> => {
    let root = made.get(event);
    if (!root) made.set(event, (root = { [field]: event } as Record<F, E>));
    return root as Record<F, E>;
  };
}

/**
 * The current view of an event's device, scoped to the subscriber. A device it can no longer see (never: claims
 * are final, but be strict) reads as null, not an error.
 */
export function eventDevice(ctx: GatewayContext, deviceId: string): Promise<DeviceView | null> {
  return ctx.services.devices.getDevice(ctx.actor, deviceId).catch((e: unknown) => {
    if (isDomainError(e) && e.code === 'NOT_FOUND') return null;
    throw e;
  });
}
