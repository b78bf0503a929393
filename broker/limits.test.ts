import { MAX_KEEPALIVE_SECONDS, MAX_PACKET_BYTES, MAX_TOPICS_PER_SUBSCRIBE } from '../contract/mqtt/messages.js';
import { DEFAULT_LIMITS, resolveLimits } from './limits.js';

test('defaults follow the wire contract', () => {
  expect(resolveLimits()).toEqual({
    maxPacketBytes: MAX_PACKET_BYTES,
    maxTopicsPerSubscribe: MAX_TOPICS_PER_SUBSCRIBE,
    minKeepaliveSeconds: 1,
    maxKeepaliveSeconds: MAX_KEEPALIVE_SECONDS,
    connectTimeoutMs: 10_000,
    maxConnections: null,
    touchIntervalMs: 60_000,
  });
  expect(Object.isFrozen(DEFAULT_LIMITS)).toBe(true);
});

test('overrides replace single limits; undefined keeps the default', () => {
  const limits = resolveLimits({ maxPacketBytes: 4096, maxConnections: 10, connectTimeoutMs: undefined });
  expect(limits).toMatchObject({ maxPacketBytes: 4096, maxConnections: 10, connectTimeoutMs: 10_000 });
  expect(Object.isFrozen(limits)).toBe(true);
});

test.each([
  [{ maxPacketBytes: 0 }, /maxPacketBytes/],
  [{ maxTopicsPerSubscribe: 1.5 }, /maxTopicsPerSubscribe/],
  [{ maxConnections: -1 }, /maxConnections/],
  [{ minKeepaliveSeconds: 0 }, /minKeepaliveSeconds/],
  [{ maxKeepaliveSeconds: 70_000 }, /65535/],
  [{ minKeepaliveSeconds: 100, maxKeepaliveSeconds: 10 }, /must not exceed/],
  [{ maxPacketBytes: 300_000_000 }, /MQTT can encode/],
])('refuses %o at start-up', (overrides, message) => {
  expect(() => resolveLimits(overrides)).toThrow(message);
});
