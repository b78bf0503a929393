/**
 * The emulated device against a real, tiny mutual-TLS broker (aedes on node tls, built from the test PKI): the
 * real Spheregate broker lives in broker/ and is not needed to prove the device's side of the contract.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { Aedes, type Client, type ConnectPacket } from 'aedes';
import { deviceIdUri } from '../contract/identity.js';
import { decode, encode } from '../contract/mqtt/codec.js';
import { downFilter, downTopic, isOwnDownFilter, upTopic } from '../contract/mqtt/topics.js';
import {
  makeDeviceIdentity,
  makeDeviceIdentityFromRogueCa,
  makeTestPki,
  type TestDeviceIdentity,
  type TestPki,
} from '../test/fixtures/pki.js';
import { EmulatedDevice, type StateChange } from './emulated-device.js';
import type { IdentityFile } from './identity.js';

interface TestBroker {
  readonly url: string;
  readonly aedes: Aedes;
  readonly connects: ConnectPacket[];
  /** Subject alternative names of the client certificates the broker saw, per connection. */
  readonly peerSans: string[];
  readonly published: Array<{ topic: string; payload: Buffer; qos: number; clientId: string }>;
  readonly subscribed: Array<{ topic: string; qos: number; clientId: string }>;
  clientById(id: string): Client | undefined;
  close(): Promise<void>;
}

/** Aedes on node tls: requires a client certificate from the manufacturing CA; a device may subscribe to its own down topics only. */
async function startTestBroker(pki: TestPki): Promise<TestBroker> {
  const clients = new Map<string, Client>();
  const connects: ConnectPacket[] = [];
  const peerSans: string[] = [];
  const published: TestBroker['published'] = [];
  const subscribed: TestBroker['subscribed'] = [];
  const aedes = await Aedes.createBroker({
    preConnect: (client, packet, done) => {
      connects.push(packet);
      const socket = client.conn;
      if (socket instanceof tls.TLSSocket) peerSans.push(socket.getPeerCertificate().subjectaltname ?? '');
      done(null, true);
    },
    authorizeSubscribe: (client, subscription, done) => done(null, isOwnDownFilter(client.id, subscription.topic) ? subscription : null),
  });
  aedes.on('client', (client) => clients.set(client.id, client));
  aedes.on('publish', (packet, client) => {
    if (client) published.push({ topic: packet.topic, payload: Buffer.from(packet.payload), qos: packet.qos, clientId: client.id });
  });
  aedes.on('subscribe', (subscriptions, client) => {
    for (const s of subscriptions) subscribed.push({ topic: s.topic, qos: s.qos, clientId: client.id });
  });
  const server = tls.createServer(
    {
      key: pki.server.keyPem,
      cert: pki.server.chainPem,
      ca: pki.manufacturingCa.certificatePem,
      requestCert: true,
      rejectUnauthorized: true,
    },
    (socket) => aedes.handle(socket),
  );
  server.on('tlsClientError', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `mqtts://localhost:${port}`,
    aedes,
    connects,
    peerSans,
    published,
    subscribed,
    clientById: (id) => clients.get(id),
    async close() {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const identityFile = (device: TestDeviceIdentity, trustAnchorsPem: string): IdentityFile => ({
  version: 1,
  deviceId: device.deviceId,
  privateKeyPem: device.keyPem,
  certificatePem: device.certificatePem,
  trustAnchorsPem,
});

/** Resolves when `predicate` holds, checking after every event of the device; fails after `ms`. */
function waitFor(device: EmulatedDevice, predicate: () => boolean, what: string, ms = 5_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!predicate()) return;
      cleanup();
      resolve();
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for ${what}`));
    }, ms);
    const cleanup = () => {
      clearTimeout(timer);
      device.off('state', check);
      device.off('online', check);
      device.off('offline', check);
    };
    device.on('state', check);
    device.on('online', check);
    device.on('offline', check);
    check();
  });
}

describe('EmulatedDevice against a mutual-TLS MQTT broker', () => {
  let pki: TestPki;
  let broker: TestBroker;
  const devices: EmulatedDevice[] = [];
  const track = (device: EmulatedDevice): EmulatedDevice => {
    devices.push(device);
    return device;
  };

  beforeAll(async () => {
    pki = await makeTestPki();
  });
  beforeEach(async () => {
    broker = await startTestBroker(pki);
  });
  afterEach(async () => {
    await Promise.all(devices.splice(0).map((d) => d.stop()));
    await broker.close();
  });

  it('connects with its identity certificate, subscribes to its down topics and reports its status', async () => {
    const made = await makeDeviceIdentity(pki.manufacturingCa);
    const image = { componentId: '11111111-2222-4333-8444-555555555555', imageId: '66666666-7777-4888-9999-aaaaaaaaaaaa', name: 'app' };
    const device = track(
      new EmulatedDevice({ identity: identityFile(made, pki.root.certificatePem), brokerUrl: broker.url, osVersion: '24.10.1', installedImages: [image] }),
    );
    const states: string[] = [];
    device.on('state', (s) => states.push(s.state));
    device.start();
    await once(device, 'online');

    expect(device.state).toBe('online');
    expect(states).toEqual(['connecting', 'online']);
    expect(broker.connects).toHaveLength(1);
    expect(broker.connects[0]).toMatchObject({ clientId: made.deviceId, protocolVersion: 4, clean: true, keepalive: 60 });
    expect(broker.peerSans).toEqual([`URI:${deviceIdUri(made.deviceId)}`]);
    expect(broker.subscribed).toEqual([{ topic: downFilter(made.deviceId), qos: 1, clientId: made.deviceId }]);

    const status = broker.published.filter((p) => p.topic === upTopic(made.deviceId, 'status'));
    expect(status).toHaveLength(1);
    expect(status[0]?.qos).toBe(1);
    const decoded = decode('status', status[0]?.payload ?? Buffer.alloc(0));
    expect(decoded).toEqual({ ok: true, value: { v: 1, osVersion: '24.10.1', uptimeSeconds: expect.any(Number), installedImages: [image] } });
  });

  it('When the broker drops it, then it goes offline and reconnects by itself with a fresh session', async () => {
    const made = await makeDeviceIdentity(pki.manufacturingCa);
    const device = track(
      new EmulatedDevice({ identity: identityFile(made, pki.root.certificatePem), brokerUrl: broker.url, backoff: { baseMs: 20, capMs: 100 } }),
    );
    const changes: StateChange[] = [];
    device.on('state', (s) => changes.push(s));
    let offline = 0;
    device.on('offline', () => offline++);
    device.start();
    await once(device, 'online');

    broker.clientById(made.deviceId)?.close();
    await waitFor(device, () => offline === 1 && device.state === 'online', 'the device to come back online');

    expect(changes.map((c) => c.state)).toEqual(['connecting', 'online', 'backoff', 'connecting', 'online']);
    // The backoff starts over after a successful connection.
    expect(changes[2]).toMatchObject({ state: 'backoff', attempt: 0 });
    expect(changes[2]?.delayMs).toBeLessThan(20);
    expect(broker.connects).toHaveLength(2);
    expect(broker.subscribed.filter((s) => s.topic === downFilter(made.deviceId))).toHaveLength(2);
    expect(broker.published.filter((p) => p.topic === upTopic(made.deviceId, 'status'))).toHaveLength(2);
  });

  it('When the service sends an error reply, then the device emits it decoded', async () => {
    const made = await makeDeviceIdentity(pki.manufacturingCa);
    const device = track(new EmulatedDevice({ identity: identityFile(made, pki.root.certificatePem), brokerUrl: broker.url }));
    device.start();
    await once(device, 'online');
    const reply = { v: 1 as const, code: 'BAD_PAYLOAD' as const, message: '/osVersion: Expected string', topic: upTopic(made.deviceId, 'status') };
    const received = once(device, 'error-reply');
    broker.aedes.publish(
      { cmd: 'publish', topic: downTopic(made.deviceId, 'error'), payload: encode('error', reply), qos: 1, retain: false, dup: false },
      () => undefined,
    );
    expect(await received).toEqual([reply]);
  });

  it('lets a misbehaving device publish and subscribe anywhere, reporting refused subscriptions as 128', async () => {
    const made = await makeDeviceIdentity(pki.manufacturingCa);
    const device = track(new EmulatedDevice({ identity: identityFile(made, pki.root.certificatePem), brokerUrl: broker.url }));
    device.start();
    await once(device, 'online');

    expect(await device.subscribeRaw('#')).toEqual([128]);
    expect(await device.subscribeRaw(`devices/${made.deviceId}/down/extra`, 0)).toEqual([0]);
    await device.publishRaw('devices/someone-else/up/status', 'not json', 1);
    expect(broker.published.map((p) => p.topic)).toContain('devices/someone-else/up/status');
    expect(device.state).toBe('online');
  });

  it('When its certificate comes from a rogue CA, then the broker refuses the handshake and the device keeps backing off', async () => {
    const rogue = await makeDeviceIdentityFromRogueCa();
    const device = track(
      new EmulatedDevice({ identity: identityFile(rogue, pki.root.certificatePem), brokerUrl: broker.url, backoff: { baseMs: 10, capMs: 20 } }),
    );
    const changes: StateChange[] = [];
    device.on('state', (s) => changes.push(s));
    device.start();
    await waitFor(device, () => changes.filter((c) => c.state === 'backoff').length >= 3, 'three failed attempts');
    expect(changes.some((c) => c.state === 'online')).toBe(false);
    expect(broker.connects).toHaveLength(0);
    // Failed attempts keep counting up instead of resetting.
    expect(changes.filter((c) => c.state === 'backoff').map((c) => c.attempt).slice(0, 3)).toEqual([0, 1, 2]);
  });

  it('When the server certificate is not from its trust anchors, then the device refuses to talk to it', async () => {
    const made = await makeDeviceIdentity(pki.manufacturingCa);
    const otherPki = await makeTestPki();
    const device = track(
      new EmulatedDevice({ identity: identityFile(made, otherPki.root.certificatePem), brokerUrl: broker.url, backoff: { baseMs: 10, capMs: 20 } }),
    );
    const reasons: string[] = [];
    device.on('state', (s) => {
      if (s.state === 'backoff') reasons.push(s.reason ?? '');
    });
    device.start();
    await waitFor(device, () => reasons.length >= 1, 'a failed attempt');
    expect(reasons[0]).toMatch(/certificate/i);
    expect(broker.connects).toHaveLength(0);
  });

  it('When stopped while backing off, then it makes no further attempt', async () => {
    const made = await makeDeviceIdentity(pki.manufacturingCa);
    const device = track(
      new EmulatedDevice({ identity: identityFile(made, pki.root.certificatePem), brokerUrl: broker.url, backoff: { baseMs: 60_000, capMs: 60_000, random: () => 0.5 } }),
    );
    device.start();
    await once(device, 'online');
    broker.clientById(made.deviceId)?.close();
    await waitFor(device, () => device.state === 'backoff', 'backoff');
    await device.stop();
    expect(device.state).toBe('stopped');
    expect(broker.connects).toHaveLength(1);
  });

  it('When stopped while online, then it disconnects cleanly and resolves once closed', async () => {
    const made = await makeDeviceIdentity(pki.manufacturingCa);
    const device = track(new EmulatedDevice({ identity: identityFile(made, pki.root.certificatePem), brokerUrl: broker.url }));
    device.start();
    await once(device, 'online');
    const gone = once(broker.aedes, 'clientDisconnect');
    const offline = once(device, 'offline');
    await device.stop();
    await offline;
    await gone;
    expect(device.state).toBe('stopped');
    await expect(device.publishRaw(upTopic(made.deviceId, 'status'), '{}', 1)).rejects.toThrow(/not online/);
  });

  it('refuses a broker URL that is not mqtts', async () => {
    const made = await makeDeviceIdentity(pki.manufacturingCa);
    expect(() => new EmulatedDevice({ identity: identityFile(made, pki.root.certificatePem), brokerUrl: 'mqtt://localhost:1883' })).toThrow(/mqtts/);
  });
});
