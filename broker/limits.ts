/**
 * What the broker tolerates from one device. Defaults come from the wire contract (contract/mqtt/messages.ts), so
 * PROTOCOL.md and the broker cannot disagree; an operator may tighten or loosen them per deployment.
 */
import {
  MAX_KEEPALIVE_SECONDS,
  MAX_PACKET_BYTES,
  MAX_TOPICS_PER_SUBSCRIBE,
} from '../contract/mqtt/messages.js';

export interface BrokerLimits {
  /**
   * Largest MQTT packet (fixed header included) a device may send; a larger one closes its connection.
   * @default MAX_PACKET_BYTES (64 KiB)
   */
  readonly maxPacketBytes: number;
  /**
   * Most topic filters in one SUBSCRIBE; more closes the connection (one `down/#` filter is all a device needs).
   * @default MAX_TOPICS_PER_SUBSCRIBE (8)
   */
  readonly maxTopicsPerSubscribe: number;
  /** @default 1 — keep-alive 0 ("never time out") would leave dead devices online for ever. */
  readonly minKeepaliveSeconds: number;
  /** @default MAX_KEEPALIVE_SECONDS (1200) */
  readonly maxKeepaliveSeconds: number;
  /**
   * Time from TCP accept to a finished TLS handshake, and again from there to the CONNECT packet.
   * @default 10000
   */
  readonly connectTimeoutMs: number;
  /**
   * Most devices connected to this node at once; the next one gets CONNACK 3 (server unavailable).
   * @default null (no limit)
   */
  readonly maxConnections: number | null;
  /**
   * A device's PINGREQs refresh its lastSeen at most this often (keep-alives are frequent and cheap to skip).
   * @default 60000
   */
  readonly touchIntervalMs: number;
}

export const DEFAULT_LIMITS: BrokerLimits = Object.freeze({
  maxPacketBytes: MAX_PACKET_BYTES,
  maxTopicsPerSubscribe: MAX_TOPICS_PER_SUBSCRIBE,
  minKeepaliveSeconds: 1,
  maxKeepaliveSeconds: MAX_KEEPALIVE_SECONDS,
  connectTimeoutMs: 10_000,
  maxConnections: null,
  touchIntervalMs: 60_000,
});

const positiveInteger = (name: keyof BrokerLimits, value: number): void => {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`broker limit ${name} must be a positive integer, got ${value}`);
};

/** Fills in defaults and refuses nonsense at start-up rather than at the first device. Returns a frozen copy. */
export function resolveLimits(overrides: Partial<BrokerLimits> = {}): BrokerLimits {
  const limits: BrokerLimits = { ...DEFAULT_LIMITS, ...withoutUndefined(overrides) };
  positiveInteger('maxPacketBytes', limits.maxPacketBytes);
  positiveInteger('maxTopicsPerSubscribe', limits.maxTopicsPerSubscribe);
  positiveInteger('minKeepaliveSeconds', limits.minKeepaliveSeconds);
  positiveInteger('maxKeepaliveSeconds', limits.maxKeepaliveSeconds);
  positiveInteger('connectTimeoutMs', limits.connectTimeoutMs);
  positiveInteger('touchIntervalMs', limits.touchIntervalMs);
  if (limits.maxConnections !== null) positiveInteger('maxConnections', limits.maxConnections);
  // MQTT encodes the keep-alive in 16 bits.
  if (limits.maxKeepaliveSeconds > 0xffff) throw new RangeError('broker limit maxKeepaliveSeconds must be <= 65535');
  if (limits.minKeepaliveSeconds > limits.maxKeepaliveSeconds) {
    throw new RangeError('broker limit minKeepaliveSeconds must not exceed maxKeepaliveSeconds');
  }
  // The MQTT remaining-length field tops out at 268,435,455 bytes (+ up to 5 header bytes).
  if (limits.maxPacketBytes > 268_435_460) throw new RangeError('broker limit maxPacketBytes exceeds what MQTT can encode');
  return Object.freeze(limits);
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
