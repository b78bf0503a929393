/**
 * Who gets in: over real TLS sockets with real mqtt.js clients. Every refusal is its own test and checks what the
 * device observes (handshake failure, CONNACK code, closed socket) and that the broker logged why.
 */
import { X509Certificate } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import {
  makeDeviceIdentity,
  makeDeviceIdentityFromRogueCa,
  makeDeviceIdentityWithMismatchedSan,
  makeExpiredDeviceIdentity,
  makeTestPki,
  type TestDeviceIdentity,
  type TestPki,
} from '../test/fixtures/pki.js';
import { startBroker, type Broker } from './index.js';
import { sha256Thumbprint } from './identity.js';
import { connectDevice, connectedDevice, endAll, eventually, type DeviceConnectOptions } from './test-support/device-client.js';
import { InMemoryPresence } from './test-support/in-memory-presence.js';
import { RecordingLogger } from './test-support/recording-logger.js';

let pki: TestPki;
let broker: Broker;
let presence: InMemoryPresence;
let log: RecordingLogger;
let device: TestDeviceIdentity;
/** The broker's clock for the keep-alive throttle. */
let clock = Date.now();
const clients: MqttClient[] = [];

const thumbprintOf = (identity: TestDeviceIdentity): string => sha256Thumbprint(new X509Certificate(identity.certificatePem));

function asDevice(identity: TestDeviceIdentity | undefined, extra: Partial<DeviceConnectOptions> = {}): DeviceConnectOptions {
  return {
    port: broker.port,
    caPem: pki.root.certificatePem,
    clientId: identity?.deviceId ?? 'anonymous',
    ...(identity ? { identity } : {}),
    ...extra,
  };
}

async function connectAs(identity: TestDeviceIdentity, extra: Partial<DeviceConnectOptions> = {}): Promise<MqttClient> {
  const client = await connectedDevice(asDevice(identity, extra));
  clients.push(client);
  return client;
}

beforeAll(async () => {
  pki = await makeTestPki();
  device = await makeDeviceIdentity(pki.manufacturingCa);
  presence = new InMemoryPresence();
  presence.register(device.deviceId, thumbprintOf(device), 'tenant-1');
  log = new RecordingLogger();
  broker = await startBroker({
    presence,
    log,
    port: 0,
    host: '127.0.0.1',
    nodeId: 'node-a',
    now: () => clock,
    tls: { certificatePem: pki.server.chainPem, keyPem: pki.server.keyPem, trustAnchorsPem: [pki.manufacturingCa.certificatePem] },
  });
});

afterEach(async () => {
  await endAll(clients.splice(0));
  await eventually(() => broker.connectedDevices() === 0, 5_000, 'all devices to be gone');
});

afterAll(async () => {
  await broker.close();
});

describe('a registered device with its own certificate', () => {
  test('connects, and the broker records the connection with its node and address', async () => {
    await connectAs(device);
    await eventually(() => presence.device(device.deviceId).online, 5_000, 'online');
    const [connected] = presence.callsFor(device.deviceId, 'connected');
    expect(connected).toMatchObject({ info: { brokerNodeId: 'node-a', remoteAddress: expect.stringMatching(/127\.0\.0\.1/) } });
    expect(presence.callsFor(device.deviceId, 'admit')).toContainEqual(
      expect.objectContaining({ thumbprint: thumbprintOf(device) }),
    );
    expect(broker.connectedDevices()).toBe(1);
  });

  test('when it disconnects, disconnected() gets the sequence connected() returned', async () => {
    const before = presence.callsFor(device.deviceId, 'connected').length;
    const client = await connectAs(device);
    await eventually(() => presence.callsFor(device.deviceId, 'connected').length === before + 1);
    const connected = presence.callsFor(device.deviceId, 'connected').at(-1);
    await client.endAsync();
    await eventually(() => !presence.device(device.deviceId).online, 5_000, 'offline');
    const disconnected = presence.callsFor(device.deviceId, 'disconnected').at(-1);
    expect(connected?.op === 'connected' && disconnected?.op === 'disconnected').toBe(true);
    if (connected?.op === 'connected' && disconnected?.op === 'disconnected') expect(disconnected.seq).toBe(connected.seq);
  });

  test('a socket dropped without DISCONNECT is recorded as a disconnection too', async () => {
    const client = await connectAs(device);
    await eventually(() => presence.device(device.deviceId).online);
    client.stream.destroy();
    await eventually(() => !presence.device(device.deviceId).online, 5_000, 'offline');
  });

  test('reconnecting with the same client id takes the session over and ends online', async () => {
    presence.connectedDelayMs = 30; // widen the window in which the two connections' records could cross
    try {
      const first = await connectAs(device);
      await eventually(() => presence.device(device.deviceId).online);
      const firstClosed = new Promise<void>((resolve) => first.once('close', () => resolve()));
      const second = await connectAs(device);
      await firstClosed;
      await eventually(() => presence.callsFor(device.deviceId, 'disconnected').length > 0 && presence.device(device.deviceId).online);
      // Give any late record a chance to land before judging the final state.
      await new Promise((r) => setTimeout(r, 100));
      expect(second.connected).toBe(true);
      expect(presence.device(device.deviceId).online).toBe(true);
      expect(broker.connectedDevices()).toBe(1);
    } finally {
      presence.connectedDelayMs = 0;
    }
  });

  test('broker.disconnect() closes its connection and records it', async () => {
    const client = await connectAs(device);
    await eventually(() => presence.device(device.deviceId).online);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    await expect(broker.disconnect(device.deviceId)).resolves.toBe(true);
    await closed;
    expect(presence.device(device.deviceId).online).toBe(false);
    await expect(broker.disconnect(device.deviceId)).resolves.toBe(false);
  });

  test('keep-alive PINGREQs touch lastSeen at most once per minute', async () => {
    const touches = (): number => presence.callsFor(device.deviceId, 'touch').length;
    const before = touches();
    const client = await connectAs(device, { keepalive: 1 });
    let pings = 0;
    client.on('packetsend', (packet) => void (packet.cmd === 'pingreq' && (pings += 1)));
    // Connecting counts as seen: pings within the same minute are not written.
    await eventually(() => pings >= 2, 5_000, 'two pings');
    expect(touches()).toBe(before);
    clock += 60_000;
    await eventually(() => touches() === before + 1, 5_000, 'a touch after a minute');
    const pingsAtTouch = pings;
    await eventually(() => pings >= pingsAtTouch + 1, 5_000, 'another ping');
    await new Promise((r) => setTimeout(r, 50));
    expect(touches()).toBe(before + 1);
  });
});

describe('refused at the TLS handshake', () => {
  test('a client without a certificate never reaches MQTT', async () => {
    const callsBefore = presence.calls.length;
    const outcome = await connectDevice(asDevice(undefined, { clientId: device.deviceId }));
    expect(outcome.kind).toBe('closed');
    await eventually(() => log.lines.some((l) => l.msg === 'TLS handshake refused'), 5_000, 'handshake log');
    expect(log.find('TLS handshake refused')?.fields).toMatchObject({ remoteAddress: expect.any(String), reason: expect.any(String) });
    expect(presence.calls.slice(callsBefore)).toHaveLength(0);
  });

  test('a certificate from a rogue CA is refused', async () => {
    const rogue = await makeDeviceIdentityFromRogueCa();
    const admitsBefore = presence.calls.length;
    const outcome = await connectDevice(asDevice(rogue));
    expect(outcome.kind).toBe('closed');
    expect(presence.calls.slice(admitsBefore).filter((c) => c.deviceId === rogue.deviceId)).toHaveLength(0);
  });

  test('an expired certificate is refused', async () => {
    const expired = await makeExpiredDeviceIdentity(pki.manufacturingCa);
    presence.register(expired.deviceId, thumbprintOf(expired));
    const outcome = await connectDevice(asDevice(expired));
    expect(outcome.kind).toBe('closed');
    expect(presence.callsFor(expired.deviceId)).toHaveLength(0);
  });
});

describe('refused with a CONNACK', () => {
  test('a valid certificate with another device id as client id gets 2 (identifier rejected)', async () => {
    const other = await makeDeviceIdentity(pki.manufacturingCa);
    presence.register(other.deviceId, thumbprintOf(other));
    const outcome = await connectDevice(asDevice(device, { clientId: other.deviceId }));
    expect(outcome).toEqual({ kind: 'refused', returnCode: 2 });
    expect(presence.callsFor(other.deviceId)).toHaveLength(0);
    const line = log.find('device connection refused', { deviceId: device.deviceId, answer: 'CONNACK 2' });
    expect(line?.fields).toMatchObject({ reason: 'client id is not the certificate device id', remoteAddress: expect.any(String) });
  });

  test('a certificate whose SAN names another key gets 5 (not authorized)', async () => {
    const impostor = await makeDeviceIdentityWithMismatchedSan(pki.manufacturingCa);
    presence.register(impostor.deviceId, thumbprintOf(impostor));
    const outcome = await connectDevice(asDevice(impostor));
    expect(outcome).toEqual({ kind: 'refused', returnCode: 5 });
    expect(presence.callsFor(impostor.deviceId, 'admit')).toHaveLength(0);
    expect(log.find('device connection refused', { reason: 'certificate: DEVICE_ID_MISMATCH' })).toBeDefined();
  });

  test('an unregistered device gets 5 (not authorized)', async () => {
    const stranger = await makeDeviceIdentity(pki.manufacturingCa);
    const outcome = await connectDevice(asDevice(stranger));
    expect(outcome).toEqual({ kind: 'refused', returnCode: 5 });
    const lines = log.lines.filter((l) => l.msg === 'device connection refused' && l.fields['deviceId'] === stranger.deviceId);
    expect(lines.map((l) => l.fields)).toEqual([expect.objectContaining({ reason: 'UNREGISTERED', answer: 'CONNACK 5', remoteAddress: expect.any(String) })]);
  });

  test('a revoked device gets 5 (not authorized)', async () => {
    const revoked = await makeDeviceIdentity(pki.manufacturingCa);
    presence.register(revoked.deviceId, thumbprintOf(revoked));
    presence.revoke(revoked.deviceId);
    const outcome = await connectDevice(asDevice(revoked));
    expect(outcome).toEqual({ kind: 'refused', returnCode: 5 });
    expect(log.find('device connection refused', { deviceId: revoked.deviceId, reason: 'REVOKED' })).toBeDefined();
    expect(presence.callsFor(revoked.deviceId, 'connected')).toHaveLength(0);
  });

  test('a registered device id presenting a different certificate gets 5 (not authorized)', async () => {
    const reissued = await makeDeviceIdentity(pki.manufacturingCa);
    presence.register(reissued.deviceId, 'F'.repeat(64));
    const outcome = await connectDevice(asDevice(reissued));
    expect(outcome).toEqual({ kind: 'refused', returnCode: 5 });
    expect(log.find('device connection refused', { deviceId: reissued.deviceId, reason: 'CERTIFICATE_MISMATCH' })).toBeDefined();
  });

  test('MQTT 3.1 (protocol level 3) gets 1 (unacceptable protocol version)', async () => {
    const outcome = await connectDevice(asDevice(device, { protocolVersion: 3 }));
    expect(outcome).toEqual({ kind: 'refused', returnCode: 1 });
    expect(log.find('device connection refused', { reason: 'protocol level 3 (only 4, MQTT 3.1.1)', answer: 'CONNACK 1' })).toBeDefined();
  });

  test('MQTT 5 gets 1 (unacceptable protocol version)', async () => {
    const connectedBefore = presence.callsFor(device.deviceId, 'connected').length;
    const outcome = await connectDevice(asDevice(device, { protocolVersion: 5 }));
    expect(outcome).toEqual({ kind: 'refused', returnCode: 1 });
    expect(presence.callsFor(device.deviceId, 'connected')).toHaveLength(connectedBefore);
    expect(log.find('device connection refused', { reason: 'protocol level 5 (only 4, MQTT 3.1.1)', answer: 'CONNACK 1' })).toBeDefined();
  });
});

describe('refused by closing the connection', () => {
  test.each([0, 1201])('keep-alive %ss is outside the contract range', async (keepalive) => {
    const connectedBefore = presence.callsFor(device.deviceId, 'connected').length;
    const outcome = await connectDevice(asDevice(device, { keepalive }));
    expect(outcome.kind).toBe('closed');
    expect(presence.callsFor(device.deviceId, 'connected')).toHaveLength(connectedBefore);
    expect(log.find('device connection refused', { reason: `keep-alive ${keepalive}s outside 1..1200` })).toBeDefined();
  });
});

test('no log line carries key material (run last: it reads what the tests above logged)', () => {
  expect(log.lines.length).toBeGreaterThan(10);
  const text = log.text();
  expect(text).not.toMatch(/PRIVATE KEY/);
  expect(text).not.toContain(device.keyPem.split('\n')[1] ?? 'unreachable');
});
