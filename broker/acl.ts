/**
 * Who may publish and subscribe to what. Pure functions over topic strings: a device owns the subtree
 * `devices/{its id}/`, speaks on `up/<message>` and listens on `down/...`; nothing else exists for it.
 */
import { isOwnDownFilter, parseTopic, TOPIC_ROOT, type UpMessage } from '../contract/mqtt/topics.js';

export type PublishVerdict =
  /** A known device -> service message of the publisher itself. */
  | { readonly kind: 'accept'; readonly message: UpMessage }
  /**
   * Inside the device's own subtree but not a message it may send (an unknown `up/` message, or the service's own
   * `down/` topics). Harmless to others: the device is told why and the message is dropped.
   */
  | { readonly kind: 'reject'; readonly code: 'UNKNOWN_TOPIC' | 'FORBIDDEN'; readonly reason: string }
  /** Outside its own subtree (another device, `$SYS`, anything else): an attack or a broken device. */
  | { readonly kind: 'violation'; readonly reason: 'SYSTEM_TOPIC' | 'FOREIGN_DEVICE_TOPIC' | 'FOREIGN_TOPIC' };

export function authorizePublishTopic(ownDeviceId: string, topic: string): PublishVerdict {
  if (topic.startsWith('$')) return { kind: 'violation', reason: 'SYSTEM_TOPIC' };
  const ownPrefix = `${TOPIC_ROOT}/${ownDeviceId}/`;
  if (!topic.startsWith(ownPrefix)) {
    const root = `${TOPIC_ROOT}/`;
    return { kind: 'violation', reason: topic.startsWith(root) ? 'FOREIGN_DEVICE_TOPIC' : 'FOREIGN_TOPIC' };
  }
  const parsed = parseTopic(topic);
  if (parsed.kind === 'up' && parsed.deviceId === ownDeviceId) return { kind: 'accept', message: parsed.message };
  const direction = topic.slice(ownPrefix.length).split('/')[0];
  if (direction === 'down') return { kind: 'reject', code: 'FORBIDDEN', reason: 'down/ topics are written by the service only' };
  return { kind: 'reject', code: 'UNKNOWN_TOPIC', reason: 'no such device -> service message' };
}

export type SubscribeVerdict =
  | { readonly kind: 'grant' }
  | { readonly kind: 'refuse'; readonly reason: 'NOT_OWN_DOWN_FILTER' };

/** A device may subscribe only to filters every match of which lies under its own `down/`. */
export function authorizeSubscribeFilter(ownDeviceId: string, filter: string): SubscribeVerdict {
  return isOwnDownFilter(ownDeviceId, filter) ? { kind: 'grant' } : { kind: 'refuse', reason: 'NOT_OWN_DOWN_FILTER' };
}

/** Who published a message: a device (through its connection) or the service (sendToDevice). */
export type MessageOrigin = 'device' | 'service';

/**
 * Last line of defence at delivery time: a device receives only the service's messages on its own `down/`
 * topics, whatever subscription or bug would route something else to it. Nothing a device publishes is ever
 * delivered to any device (its accepted messages were consumed on the way in, its refused ones are dropped).
 */
export function mayDeliver(recipientDeviceId: string, topic: string, origin: MessageOrigin): boolean {
  return origin === 'service' && topic.startsWith(`${TOPIC_ROOT}/${recipientDeviceId}/down/`);
}
