/**
 * The only place an MQTT topic is spelled. A device owns the subtree `devices/{deviceId}/`:
 *   - it publishes only to `devices/{id}/up/<message>` (device -> service), and
 *   - it subscribes only to filters under `devices/{id}/down/` (service -> device).
 * See PROTOCOL.md for each message's direction, QoS, payload and replies.
 */
export const TOPIC_ROOT = 'devices';

/** Device -> service messages. */
export const UP_MESSAGES = ['status', 'challenge-request', 'attestation', 'error-reports', 'update-status'] as const;
export type UpMessage = (typeof UP_MESSAGES)[number];

/** Service -> device messages. */
export const DOWN_MESSAGES = ['error', 'challenge', 'attestation-result', 'update'] as const;
export type DownMessage = (typeof DOWN_MESSAGES)[number];

const DEVICE_ID = /^[0-9A-F]{128}$/;

export const upTopic = (deviceId: string, message: UpMessage): string => `${TOPIC_ROOT}/${deviceId}/up/${message}`;
export const downTopic = (deviceId: string, message: DownMessage): string => `${TOPIC_ROOT}/${deviceId}/down/${message}`;
/** What a device subscribes to, to hear everything the service sends it. */
export const downFilter = (deviceId: string): string => `${TOPIC_ROOT}/${deviceId}/down/#`;

export type ParsedTopic =
  | { readonly kind: 'up'; readonly deviceId: string; readonly message: UpMessage }
  | { readonly kind: 'down'; readonly deviceId: string; readonly message: DownMessage }
  | { readonly kind: 'unknown'; readonly deviceId: string | null };

/** Parses a concrete topic name (no wildcards). */
export function parseTopic(topic: string): ParsedTopic {
  const parts = topic.split('/');
  if (parts.length !== 4 || parts[0] !== TOPIC_ROOT) return { kind: 'unknown', deviceId: null };
  const [, deviceId = '', direction, message = ''] = parts;
  if (!DEVICE_ID.test(deviceId)) return { kind: 'unknown', deviceId: null };
  if (direction === 'up' && (UP_MESSAGES as readonly string[]).includes(message)) {
    return { kind: 'up', deviceId, message: message as UpMessage };
  }
  if (direction === 'down' && (DOWN_MESSAGES as readonly string[]).includes(message)) {
    return { kind: 'down', deviceId, message: message as DownMessage };
  }
  return { kind: 'unknown', deviceId };
}

/**
 * True when every topic the filter can match lies under `devices/{deviceId}/down/`. `#` and `+` are allowed only
 * after that prefix, so `#`, `devices/+/down/#` and `$SYS/#` are refused.
 */
export function isOwnDownFilter(deviceId: string, filter: string): boolean {
  const prefix = `${TOPIC_ROOT}/${deviceId}/down/`;
  if (filter === `${TOPIC_ROOT}/${deviceId}/down/#`) return true;
  if (!filter.startsWith(prefix)) return false;
  const rest = filter.slice(prefix.length);
  if (rest.length === 0) return false;
  const levels = rest.split('/');
  // '#' only as the whole last level; '+' only as a whole level ([MQTT-4.7.1-2], [MQTT-4.7.1-3]).
  return levels.every((l, i) => (l === '#' ? i === levels.length - 1 : l === '+' || !/[#+]/.test(l)));
}
