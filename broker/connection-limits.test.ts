/**
 * Limits and failure paths of the connection lifecycle, over real sockets: connection cap, connect and handshake
 * timeouts, a domain that cannot answer, and a shutdown that records every disconnection before it resolves.
 */
import { X509Certificate } from 'node:crypto';
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { MqttClient } from 'mqtt';
import { makeDeviceIdentity, makeTestPki, type TestDeviceIdentity, type TestPki } from '../test/fixtures/pki.js';
import { startBroker, type Broker } from './index.js';
import { sha256Thumbprint } from './identity.js';
import { connectDevice, connectedDevice, endAll, eventually } from './test-support/device-client.js';
import { InMemoryPresence } from './test-support/in-memory-presence.js';
import { RecordingLogger } from './test-support/recording-logger.js';

let pki: TestPki;
let broker: Broker;
let presence: InMemoryPresence;
let log: RecordingLogger;
let devices: TestDeviceIdentity[];
const clients: MqttClient[] = [];
const sockets: Socket[] = [];

const asDevice = (d: TestDeviceIdentity) => ({ port: broker.port, caPem: pki.root.certificatePem, clientId: d.deviceId, identity: d });

/** Resolves with the time it took the broker to close the socket. */
const closedAfter = (socket: Socket): Promise<number> => {
  const start = Date.now();
  return new Promise((resolve) => socket.once('close', () => resolve(Date.now() - start)));
};

beforeAll(async () => {
  pki = await makeTestPki();
  devices = await Promise.all([1, 2, 3].map(() => makeDeviceIdentity(pki.manufacturingCa)));
  presence = new InMemoryPresence();
  for (const d of devices) presence.register(d.deviceId, sha256Thumbprint(new X509Certificate(d.certificatePem)));
  log = new RecordingLogger();
  broker = await startBroker({
    presence,
    log,
    port: 0,
    host: '127.0.0.1',
    nodeId: 'node-l',
    limits: { maxConnections: 2, connectTimeoutMs: 300 },
    tls: { certificatePem: pki.server.chainPem, keyPem: pki.server.keyPem, trustAnchorsPem: [pki.manufacturingCa.certificatePem] },
  });
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await endAll(clients.splice(0));
  await eventually(() => broker.connectedDevices() === 0, 5_000, 'all devices to be gone');
});

afterAll(async () => {
  await broker.close();
});

test('a node at its connection limit answers CONNACK 3; a freed slot admits again', async () => {
  const [a, b, c] = devices as [TestDeviceIdentity, TestDeviceIdentity, TestDeviceIdentity];
  clients.push(await connectedDevice(asDevice(a)), await connectedDevice(asDevice(b)));
  await eventually(() => broker.connectedDevices() === 2);
  expect(await connectDevice(asDevice(c))).toEqual({ kind: 'refused', returnCode: 3 });
  expect(log.find('device connection refused', { reason: 'node full (2 devices)', deviceId: c.deviceId })).toBeDefined();

  await clients.shift()?.endAsync();
  await eventually(() => broker.connectedDevices() === 1);
  clients.push(await connectedDevice(asDevice(c)));
});

test('a TLS peer that never sends CONNECT is closed after the connect timeout', async () => {
  const [a] = devices as [TestDeviceIdentity];
  const socket = connectTls({ host: '127.0.0.1', port: broker.port, ca: pki.root.certificatePem, servername: 'localhost', key: a.keyPem, cert: a.certificatePem });
  sockets.push(socket);
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
  const elapsed = await closedAfter(socket);
  expect(elapsed).toBeGreaterThanOrEqual(200);
  expect(elapsed).toBeLessThan(3_000);
});

test('a TCP peer that never finishes the TLS handshake is closed after the connect timeout', async () => {
  const socket = connectTcp({ host: '127.0.0.1', port: broker.port });
  sockets.push(socket);
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const elapsed = await closedAfter(socket);
  expect(elapsed).toBeGreaterThanOrEqual(200);
  expect(elapsed).toBeLessThan(3_000);
  await eventually(() => log.lines.some((l) => l.msg === 'TLS handshake refused'), 2_000, 'the refusal to be logged');
});

test('when the admission check fails, the device gets CONNACK 3 (try again later)', async () => {
  const [a] = devices as [TestDeviceIdentity];
  presence.admitErrors.push(new Error('database unavailable'));
  expect(await connectDevice(asDevice(a))).toEqual({ kind: 'refused', returnCode: 3 });
  expect(log.find('device connection refused', { reason: 'admission check failed', deviceId: a.deviceId })).toBeDefined();
});

test('when the connection cannot be recorded, the device is disconnected rather than left online unseen', async () => {
  const [a] = devices as [TestDeviceIdentity];
  presence.connectedErrors.push(new Error('database unavailable'));
  const outcome = await connectDevice(asDevice(a));
  if (outcome.kind === 'connected') {
    clients.push(outcome.client);
    await new Promise<void>((resolve) => (outcome.client.connected ? outcome.client.once('close', () => resolve()) : resolve()));
  }
  expect(log.find('could not record the connection; disconnecting the device', { deviceId: a.deviceId })).toBeDefined();
  await eventually(() => broker.connectedDevices() === 0);
});

test('close() resolves only after every connected device is recorded offline (run last)', async () => {
  const [a, b] = devices as [TestDeviceIdentity, TestDeviceIdentity];
  presence.connectedDelayMs = 50;
  clients.push(await connectedDevice(asDevice(a)), await connectedDevice(asDevice(b)));
  await broker.close();
  expect(presence.device(a.deviceId).online).toBe(false);
  expect(presence.device(b.deviceId).online).toBe(false);
  expect(presence.callsFor(a.deviceId, 'disconnected').length).toBeGreaterThan(0);
  expect(broker.connectedDevices()).toBe(0);
  await expect(broker.close()).resolves.toBeUndefined();
});
