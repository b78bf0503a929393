import { checkConnectPacket } from './connect-flow.js';
import { resolveLimits } from './limits.js';

const limits = resolveLimits();
const good = { protocolVersion: 4, clientId: 'A'.repeat(128), keepalive: 60 };

describe('checkConnectPacket', () => {
  test('accepts MQTT 3.1.1 with a client id and a keep-alive in range', () => {
    expect(checkConnectPacket(good, limits)).toBeNull();
    expect(checkConnectPacket({ ...good, keepalive: 1 }, limits)).toBeNull();
    expect(checkConnectPacket({ ...good, keepalive: 1200 }, limits)).toBeNull();
  });

  test.each([3, 5, 0])('answers protocol level %i with CONNACK 1', (protocolVersion) => {
    expect(checkConnectPacket({ ...good, protocolVersion }, limits)).toEqual({
      reason: `protocol level ${protocolVersion} (only 4, MQTT 3.1.1)`,
      answer: { connack: 1 },
    });
  });

  test('answers an empty client id with CONNACK 2', () => {
    expect(checkConnectPacket({ ...good, clientId: '' }, limits)).toMatchObject({ answer: { connack: 2 } });
  });

  test.each([0, 1201, 65535])('closes the connection for keep-alive %is', (keepalive) => {
    expect(checkConnectPacket({ ...good, keepalive }, limits)).toEqual({
      reason: `keep-alive ${keepalive}s outside 1..1200`,
      answer: 'close',
    });
  });

  test('follows configured keep-alive bounds', () => {
    const strict = resolveLimits({ minKeepaliveSeconds: 30, maxKeepaliveSeconds: 120 });
    expect(checkConnectPacket({ ...good, keepalive: 20 }, strict)).toMatchObject({ answer: 'close' });
    expect(checkConnectPacket({ ...good, keepalive: 121 }, strict)).toMatchObject({ answer: 'close' });
  });

  test('the protocol level is judged first', () => {
    expect(checkConnectPacket({ protocolVersion: 3, clientId: '', keepalive: 0 }, limits)).toMatchObject({ answer: { connack: 1 } });
  });
});
