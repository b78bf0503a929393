/**
 * aedes authorizeSubscribe and authorizeForward. A refused filter is granted QoS 128 (failure) in the SUBACK
 * ([MQTT-3.9.3]): aedes does that when the hook answers `(null, null)`, and the device's other filters in the same
 * SUBSCRIBE still count. (Answering with an error would close the connection.)
 */
import type { AedesPublishPacket, Client, Subscription } from 'aedes';
import type { Logger } from '../domain/shared/logger.js';
import { authorizeSubscribeFilter, mayDeliver } from './acl.js';
import { clip, type DeviceSession } from './session.js';

export type AuthorizeSubscribe = (
  client: Client,
  subscription: Subscription,
  callback: (error: Error | null, subscription?: Subscription | null) => void,
) => void;
export type AuthorizeForward = (client: Client, packet: AedesPublishPacket) => AedesPublishPacket | null;

export interface SubscribeFlowDeps {
  readonly log: Logger;
  readonly sessionOf: (client: Client | null) => DeviceSession | null;
}

export function createAuthorizeSubscribe(deps: SubscribeFlowDeps): AuthorizeSubscribe {
  return (client, subscription, callback) => {
    const session = deps.sessionOf(client);
    if (session === null) {
      deps.log.warn({ filter: clip(subscription.topic) }, 'subscribe without an admitted device refused');
      return callback(null, null);
    }
    const verdict = authorizeSubscribeFilter(session.deviceId, subscription.topic);
    if (verdict.kind === 'grant') return callback(null, subscription);
    session.log.warn({ filter: clip(subscription.topic), reason: verdict.reason }, 'subscription refused (SUBACK 128)');
    callback(null, null);
  };
}

/**
 * Delivery-time check (acl.ts mayDeliver). aedes stamps `clientId` on every message a client published (and keeps
 * it through its packet copies); messages the service publishes with aedes.publish carry none.
 */
export function createAuthorizeForward(deps: SubscribeFlowDeps): AuthorizeForward {
  return (client, packet) => {
    const session = deps.sessionOf(client);
    const origin = Object.hasOwn(packet, 'clientId') ? 'device' : 'service';
    return session !== null && mayDeliver(session.deviceId, packet.topic, origin) ? packet : null;
  };
}
