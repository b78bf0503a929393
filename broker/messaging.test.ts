/**
 * What admitted devices may say and hear, over real TLS sockets with real mqtt.js clients: status reports stored
 * before the PUBACK, bad payloads answered on down/error without losing the connection, publishes and
 * subscriptions outside the device's subtree refused, packet limits enforced on the offender only.
 */
import { X509Certificate } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { downFilter, downTopic, upTopic } from '../contract/mqtt/topics.js';
import type { ErrorReply, StatusReport } from '../contract/mqtt/messages.js';
import { badInput } from '../domain/shared/errors.js';
import { makeDeviceIdentity, makeTestPki, type TestDeviceIdentity, type TestPki } from '../test/fixtures/pki.js';
import { startBroker, type Broker } from './index.js';
import { sha256Thumbprint } from './identity.js';
import {
  connectedDevice,
  endAll,
  eventually,
  nextMessage,
  subscribeGranted,
  whenClosed,
  type DeviceConnectOptions,
} from './test-support/device-client.js';
import { InMemoryPresence } from './test-support/in-memory-presence.js';
import { RecordingLogger } from './test-support/recording-logger.js';

let pki: TestPki;
let broker: Broker;
let presence: InMemoryPresence;
let log: RecordingLogger;
let alice: TestDeviceIdentity;
let bob: TestDeviceIdentity;
const clients: MqttClient[] = [];

const status: StatusReport = {
  v: 1,
  osVersion: '24.10.1',
  uptimeSeconds: 42,
  installedImages: [{ componentId: '11111111-2222-3333-4444-555555555555', imageId: '66666666-7777-8888-9999-000000000000', version: '1.0.0' }],
};
const json = (value: unknown): string => JSON.stringify(value);

async function connectAs(identity: TestDeviceIdentity, extra: Partial<DeviceConnectOptions> = {}): Promise<MqttClient> {
  const client = await connectedDevice({ port: broker.port, caPem: pki.root.certificatePem, clientId: identity.deviceId, identity, ...extra });
  clients.push(client);
  return client;
}

/** Connected and listening on its own down/ topics, as the contract asks of every device. */
async function listeningAs(identity: TestDeviceIdentity): Promise<MqttClient> {
  const client = await connectAs(identity);
  expect(await subscribeGranted(client, [downFilter(identity.deviceId)])).toEqual([1]);
  return client;
}

const errorReply = async (client: MqttClient, deviceId: string, act: () => Promise<unknown>): Promise<ErrorReply> => {
  const reply = nextMessage(client, downTopic(deviceId, 'error'));
  await act();
  return JSON.parse((await reply).toString('utf8')) as ErrorReply;
};

const storedReports = (deviceId: string): number => presence.callsFor(deviceId, 'reportStatus').length;

beforeAll(async () => {
  pki = await makeTestPki();
  [alice, bob] = await Promise.all([makeDeviceIdentity(pki.manufacturingCa), makeDeviceIdentity(pki.manufacturingCa)]);
  presence = new InMemoryPresence();
  for (const d of [alice, bob]) presence.register(d.deviceId, sha256Thumbprint(new X509Certificate(d.certificatePem)));
  log = new RecordingLogger();
  broker = await startBroker({
    presence,
    log,
    port: 0,
    host: '127.0.0.1',
    nodeId: 'node-m',
    tls: { certificatePem: pki.server.chainPem, keyPem: pki.server.keyPem, trustAnchorsPem: [pki.manufacturingCa.certificatePem] },
  });
});

afterEach(async () => {
  await endAll(clients.splice(0));
  await eventually(() => broker.connectedDevices() === 0, 5_000, 'all devices to be gone');
  presence.reportStatusDelayMs = 0;
});

afterAll(async () => {
  await broker.close();
});

describe('status reports', () => {
  test('a valid report is stored before the PUBACK reaches the device', async () => {
    presence.reportStatusDelayMs = 150;
    const client = await connectAs(alice);
    await client.publishAsync(upTopic(alice.deviceId, 'status'), json(status), { qos: 1 });
    expect(presence.device(alice.deviceId).status).toEqual({
      osVersion: '24.10.1',
      uptimeSeconds: 42,
      installedImages: [{ ...status.installedImages[0], name: null }],
    });
  });

  test('reports sent back to back are stored in the order sent', async () => {
    const client = await connectAs(alice);
    const sends = [1, 2, 3, 4, 5].map((uptimeSeconds) =>
      client.publishAsync(upTopic(alice.deviceId, 'status'), json({ ...status, uptimeSeconds }), { qos: 1 }),
    );
    await Promise.all(sends);
    const uptimes = presence.callsFor(alice.deviceId, 'reportStatus').slice(-5).map((c) => (c.op === 'reportStatus' ? c.report.uptimeSeconds : -1));
    expect(uptimes).toEqual([1, 2, 3, 4, 5]);
  });

  test('a payload that is not JSON gets BAD_PAYLOAD on down/error; the connection keeps serving', async () => {
    const client = await listeningAs(alice);
    const before = storedReports(alice.deviceId);
    const topic = upTopic(alice.deviceId, 'status');
    const reply = await errorReply(client, alice.deviceId, () => client.publishAsync(topic, '{not json', { qos: 1 }));
    expect(reply).toEqual({ v: 1, code: 'BAD_PAYLOAD', message: 'payload is not valid JSON', topic });
    expect(storedReports(alice.deviceId)).toBe(before);

    await client.publishAsync(topic, json(status), { qos: 1 });
    expect(client.connected).toBe(true);
    expect(storedReports(alice.deviceId)).toBe(before + 1);
    expect(log.find('device message refused', { deviceId: alice.deviceId, code: 'BAD_PAYLOAD' })).toBeDefined();
  });

  test('a schema violation gets BAD_PAYLOAD naming the field', async () => {
    const client = await listeningAs(alice);
    const topic = upTopic(alice.deviceId, 'status');
    const reply = await errorReply(client, alice.deviceId, () =>
      client.publishAsync(topic, json({ ...status, uptimeSeconds: -1 }), { qos: 1 }),
    );
    expect(reply).toMatchObject({ code: 'BAD_PAYLOAD', topic, message: expect.stringContaining('/uptimeSeconds') });
    expect(client.connected).toBe(true);
  });

  test('a report the domain refuses gets BAD_PAYLOAD with the domain reason', async () => {
    const client = await listeningAs(alice);
    presence.reportStatusErrors.push(badInput('osVersion', 'unknown OS release'));
    const reply = await errorReply(client, alice.deviceId, () =>
      client.publishAsync(upTopic(alice.deviceId, 'status'), json(status), { qos: 1 }),
    );
    expect(reply).toMatchObject({ code: 'BAD_PAYLOAD', message: 'osVersion: unknown OS release' });
    expect(client.connected).toBe(true);
  });

  test('when storing fails, the report is not acknowledged: the connection closes and a resend is stored', async () => {
    const client = await connectAs(alice);
    presence.reportStatusErrors.push(new Error('database unavailable'));
    let acked = false;
    client.publish(upTopic(alice.deviceId, 'status'), json(status), { qos: 1 }, (error) => {
      if (!error) acked = true;
    });
    await whenClosed(client);
    expect(acked).toBe(false);
    expect(log.find('could not store the device message; not acknowledged', { deviceId: alice.deviceId })).toBeDefined();

    const before = storedReports(alice.deviceId);
    const again = await connectAs(alice);
    await again.publishAsync(upTopic(alice.deviceId, 'status'), json(status), { qos: 1 });
    expect(storedReports(alice.deviceId)).toBe(before + 1);
  });

  test('an unknown up/ message gets UNKNOWN_TOPIC; the connection keeps serving', async () => {
    const client = await listeningAs(alice);
    const topic = `devices/${alice.deviceId}/up/firmware`;
    const reply = await errorReply(client, alice.deviceId, () => client.publishAsync(topic, '{}', { qos: 1 }));
    expect(reply).toMatchObject({ v: 1, code: 'UNKNOWN_TOPIC', topic });
    await client.publishAsync(upTopic(alice.deviceId, 'status'), json(status), { qos: 1 });
    expect(client.connected).toBe(true);
  });

  test('a device publishing to its own down/ topics gets FORBIDDEN and is not delivered to', async () => {
    const client = await listeningAs(alice);
    const topic = downTopic(alice.deviceId, 'error');
    const received: string[] = [];
    client.on('message', (_t, payload) => received.push(payload.toString('utf8')));
    await client.publishAsync(topic, json({ v: 1, code: 'INTERNAL', message: 'spoofed', topic: 'x' }), { qos: 1 });
    await eventually(() => received.length > 0);
    await new Promise((r) => setTimeout(r, 100));
    expect(received.map((r) => JSON.parse(r) as ErrorReply)).toEqual([expect.objectContaining({ code: 'FORBIDDEN', topic })]);
  });

  test('a Last Will is never published on the device\'s behalf', async () => {
    const client = await connectAs(alice, { will: { topic: upTopic(alice.deviceId, 'status'), payload: Buffer.from(json(status)), qos: 1, retain: false } });
    const before = storedReports(alice.deviceId);
    client.stream.destroy();
    await eventually(() => broker.connectedDevices() === 0);
    await new Promise((r) => setTimeout(r, 100));
    expect(storedReports(alice.deviceId)).toBe(before);
  });
});

describe('publishing outside the own subtree closes the connection', () => {
  test.each([
    ['another device\'s up/ topic', () => upTopic(bob.deviceId, 'status'), 'FOREIGN_DEVICE_TOPIC'],
    ['another device\'s down/ topic', () => downTopic(bob.deviceId, 'error'), 'FOREIGN_DEVICE_TOPIC'],
    ['$SYS', () => '$SYS/node-m/new/clients', 'SYSTEM_TOPIC'],
    ['a topic outside devices/', () => 'hello/world', 'FOREIGN_TOPIC'],
  ])('%s', async (_name, topic, reason) => {
    const bobClient = await listeningAs(bob);
    const bobReceived: string[] = [];
    bobClient.on('message', (t) => bobReceived.push(t));
    const client = await connectAs(alice);
    const before = presence.calls.length;
    client.publish(topic(), json(status), { qos: 1 });
    await whenClosed(client);
    expect(log.find('publish outside the device subtree: disconnecting', { deviceId: alice.deviceId, reason })?.fields).toMatchObject({
      remoteAddress: expect.any(String),
    });
    expect(presence.calls.slice(before).filter((c) => c.op === 'reportStatus')).toHaveLength(0);
    await new Promise((r) => setTimeout(r, 100));
    expect(bobReceived).toEqual([]);
    expect(bobClient.connected).toBe(true);
  });
});

describe('subscriptions', () => {
  test.each([
    ['another device\'s down/ topics', () => downFilter(bob.deviceId)],
    ['another device\'s up/ topics', () => `devices/${bob.deviceId}/up/#`],
    ['every topic (#)', () => '#'],
    ['every device (+)', () => 'devices/+/down/#'],
    ['$SYS/#', () => '$SYS/#'],
    ['its own up/ topics', () => `devices/${alice.deviceId}/up/#`],
  ])('to %s are refused with SUBACK 128 and the connection stays', async (_name, filter) => {
    const client = await connectAs(alice);
    expect(await subscribeGranted(client, [filter()])).toEqual([128]);
    expect(client.connected).toBe(true);
    expect(log.find('subscription refused (SUBACK 128)', { deviceId: alice.deviceId, filter: filter() })).toBeDefined();
  });

  test('in one SUBSCRIBE, the own filter is granted and the foreign one refused', async () => {
    const client = await connectAs(alice);
    expect(await subscribeGranted(client, [downFilter(alice.deviceId), downFilter(bob.deviceId)])).toEqual([1, 128]);
  });

  test('a device hears only its own down/ messages, and nobody hears another device\'s status', async () => {
    const aliceClient = await listeningAs(alice);
    const bobClient = await listeningAs(bob);
    const heard: Array<[string, string]> = [];
    aliceClient.on('message', (t) => heard.push(['alice', t]));
    bobClient.on('message', (t) => heard.push(['bob', t]));
    await bobClient.publishAsync(upTopic(bob.deviceId, 'status'), json(status), { qos: 1 });
    const reply = { v: 1, code: 'INTERNAL', message: 'test', topic: 't' } as const;
    await broker.sendToDevice(alice.deviceId, 'error', reply);
    await eventually(() => heard.length >= 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(heard).toEqual([['alice', downTopic(alice.deviceId, 'error')]]);
  });

  test(`more than the allowed filters in one SUBSCRIBE closes the connection`, async () => {
    const client = await connectAs(alice);
    const filters = Array.from({ length: 9 }, (_, i) => `devices/${alice.deviceId}/down/f${i}`);
    client.subscribe(filters, { qos: 1 });
    await whenClosed(client);
    expect(log.find('packet refused: closing the connection', { reason: 'TOO_MANY_TOPICS', deviceId: alice.deviceId })).toBeDefined();
  });

  test('the allowed number of filters is fine', async () => {
    const client = await connectAs(alice);
    const filters = Array.from({ length: 8 }, (_, i) => `devices/${alice.deviceId}/down/f${i}`);
    expect(await subscribeGranted(client, filters)).toEqual(Array(8).fill(1));
  });
});

describe('packet size', () => {
  test('an oversized packet closes that client only; another keeps working', async () => {
    const bobClient = await connectAs(bob);
    const client = await connectAs(alice);
    const before = storedReports(alice.deviceId);
    client.publish(upTopic(alice.deviceId, 'status'), Buffer.alloc(65 * 1024, 0x20), { qos: 1 });
    await whenClosed(client);
    expect(storedReports(alice.deviceId)).toBe(before);
    expect(log.find('packet refused: closing the connection', { reason: 'PACKET_TOO_LARGE', deviceId: alice.deviceId })).toBeDefined();

    await bobClient.publishAsync(upTopic(bob.deviceId, 'status'), json(status), { qos: 1 });
    expect(bobClient.connected).toBe(true);
  });

  test('a packet just under the limit is parsed as usual (and refused for its content)', async () => {
    const client = await listeningAs(alice);
    const topic = upTopic(alice.deviceId, 'status');
    const reply = await errorReply(client, alice.deviceId, () => client.publishAsync(topic, Buffer.alloc(60 * 1024, 0x20), { qos: 1 }));
    expect(reply.code).toBe('BAD_PAYLOAD');
    expect(client.connected).toBe(true);
  });
});
