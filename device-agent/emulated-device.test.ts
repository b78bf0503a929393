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
import { MAX_ERROR_REPORTS_BYTES } from '../contract/mqtt/messages.js';
import { EmulatedDevice, type StateChange } from './emulated-device.js';
import { MemoryErrorQueueStore } from './error-queue.js';
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

interface TestBrokerOptions {
  /** When it returns true for a publish, the broker refuses it and closes the connection (no PUBACK). */
  readonly refusePublish?: (topic: string) => boolean;
}

/** Aedes on node tls: requires a client certificate from the manufacturing CA; a device may subscribe to its own down topics only. */
async function startTestBroker(pki: TestPki, brokerOptions: TestBrokerOptions = {}): Promise<TestBroker> {
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
    authorizePublish: (_client, packet, done) => done(brokerOptions.refusePublish?.(packet.topic) ? new Error('refused') : null),
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
  let refuseErrorReports = false;
  beforeEach(async () => {
    refuseErrorReports = false;
    broker = await startTestBroker(pki, { refusePublish: (topic) => refuseErrorReports && topic.endsWith('/up/error-reports') });
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

  describe('error reports', () => {
    const image = { componentId: '11111111-2222-4333-8444-555555555555', imageId: '66666666-7777-4888-9999-aaaaaaaaaaaa' };
    const reportsOf = (deviceId: string) =>
      broker.published
        .filter((p) => p.topic === upTopic(deviceId, 'error-reports'))
        .map((p) => {
          const decoded = decode('error-reports', p.payload);
          if (!decoded.ok) throw new Error(decoded.error);
          return { ...decoded.value, qos: p.qos, bytes: p.payload.length };
        });

    it('When events were recorded offline, then it sends them after connecting, oldest first, and empties its queue', async () => {
      const made = await makeDeviceIdentity(pki.manufacturingCa);
      const device = track(
        new EmulatedDevice({
          identity: identityFile(made, pki.root.certificatePem),
          brokerUrl: broker.url,
          installedImages: [image],
          errorReports: { store: new MemoryErrorQueueStore() },
        }),
      );
      const crash = await device.recordEvent({ category: 'AppCrash', ...image, signal: 11 });
      const reboot = await device.recordEvent({ category: 'Reboot', count: 2, startTime: '2026-12-02T10:00:00.000Z' });
      expect(crash).toEqual({ eventId: expect.any(String), category: 'AppCrash', ...image, signal: 11, count: 1, startTime: crash.endTime, endTime: crash.endTime });
      expect(reboot).toMatchObject({ category: 'Reboot', count: 2, startTime: '2026-12-02T10:00:00.000Z' });
      expect((await device.pendingErrorReports()).events).toEqual([crash, reboot]);

      const sent = once(device, 'error-reports-sent');
      device.start();
      expect(await sent).toEqual([{ count: 2 }]);
      expect(reportsOf(made.deviceId)).toEqual([{ v: 1, events: [crash, reboot], droppedTotal: 0, qos: 1, bytes: expect.any(Number) }]);
      expect(await device.pendingErrorReports()).toEqual({ events: [], droppedTotal: 0 });
      // The status report comes first, so the service knows the installed images the events name.
      const topics = broker.published.map((p) => p.topic);
      expect(topics.indexOf(upTopic(made.deviceId, 'status'))).toBeLessThan(topics.indexOf(upTopic(made.deviceId, 'error-reports')));
    });

    it('When online, then a recorded event is sent at once', async () => {
      const made = await makeDeviceIdentity(pki.manufacturingCa);
      const device = track(
        new EmulatedDevice({ identity: identityFile(made, pki.root.certificatePem), brokerUrl: broker.url, errorReports: { store: new MemoryErrorQueueStore() } }),
      );
      device.start();
      await once(device, 'online');
      const sent = once(device, 'error-reports-sent');
      const event = await device.recordEvent({ category: 'OSCrash', description: 'kernel panic' });
      expect(await sent).toEqual([{ count: 1 }]);
      expect(reportsOf(made.deviceId).map((r) => r.events)).toEqual([[event]]);
      expect(await device.flushErrorReports()).toBe(0);
    });

    it('sends in batches of batchSize, each under MAX_ERROR_REPORTS_BYTES, and counts what was acknowledged', async () => {
      const made = await makeDeviceIdentity(pki.manufacturingCa);
      const device = track(
        new EmulatedDevice({
          identity: identityFile(made, pki.root.certificatePem),
          brokerUrl: broker.url,
          errorReports: { store: new MemoryErrorQueueStore(), batchSize: 100, capacity: 500 },
        }),
      );
      const recorded = [];
      // About 400 bytes an event: 100 of them would not fit in one payload.
      for (let i = 0; i < 130; i++) recorded.push(await device.recordEvent({ category: 'OSCrash', description: `${i} `.padEnd(200, 'x') }));
      const batches: number[] = [];
      device.on('error-reports-sent', ({ count }) => batches.push(count));
      device.start();
      await once(device, 'online');
      // A flush started by hand during the automatic one waits for it: together they send everything once.
      expect(await device.flushErrorReports()).toBe(130);
      const reports = reportsOf(made.deviceId);
      expect(reports.length).toBeGreaterThanOrEqual(2);
      for (const r of reports) expect(r.bytes).toBeLessThanOrEqual(MAX_ERROR_REPORTS_BYTES);
      for (const r of reports) expect(r.events.length).toBeLessThanOrEqual(100);
      expect(reports.flatMap((r) => r.events.map((e) => e.eventId))).toEqual(recorded.map((e) => e.eventId));
      expect(batches).toEqual(reports.map((r) => r.events.length));
      expect((await device.pendingErrorReports()).events).toEqual([]);
    });

    it('sends no more than batchSize events at once', async () => {
      const made = await makeDeviceIdentity(pki.manufacturingCa);
      const device = track(
        new EmulatedDevice({
          identity: identityFile(made, pki.root.certificatePem),
          brokerUrl: broker.url,
          errorReports: { store: new MemoryErrorQueueStore(), batchSize: 2 },
        }),
      );
      for (let i = 0; i < 5; i++) await device.recordEvent({ category: 'AppExit', ...image, exitCode: i });
      device.start();
      await once(device, 'online');
      expect(await device.flushErrorReports()).toBe(5);
      expect(reportsOf(made.deviceId).map((r) => r.events.map((e) => e.exitCode))).toEqual([[0, 1], [2, 3], [4]]);
    });

    it('When its queue is full, then it drops the oldest events and reports the running total of drops', async () => {
      const made = await makeDeviceIdentity(pki.manufacturingCa);
      const device = track(
        new EmulatedDevice({
          identity: identityFile(made, pki.root.certificatePem),
          brokerUrl: broker.url,
          errorReports: { store: new MemoryErrorQueueStore(), capacity: 2 },
        }),
      );
      const drops: Array<{ dropped: number; droppedTotal: number }> = [];
      device.on('error-events-dropped', (d) => drops.push(d));
      for (let i = 0; i < 4; i++) await device.recordEvent({ category: 'AppExit', ...image, exitCode: i });
      expect(drops).toEqual([
        { dropped: 1, droppedTotal: 1 },
        { dropped: 1, droppedTotal: 2 },
      ]);
      device.start();
      await once(device, 'error-reports-sent');
      expect(reportsOf(made.deviceId)).toEqual([expect.objectContaining({ droppedTotal: 2, events: [expect.objectContaining({ exitCode: 2 }), expect.objectContaining({ exitCode: 3 })] })]);
      expect(await device.pendingErrorReports()).toEqual({ events: [], droppedTotal: 2 });
    });

    it('When a batch is not acknowledged (connection closed), then it keeps the events and resends them after reconnecting', async () => {
      const made = await makeDeviceIdentity(pki.manufacturingCa);
      const device = track(
        new EmulatedDevice({
          identity: identityFile(made, pki.root.certificatePem),
          brokerUrl: broker.url,
          backoff: { baseMs: 20, capMs: 50 },
          errorReports: { store: new MemoryErrorQueueStore() },
        }),
      );
      device.start();
      await once(device, 'online');
      refuseErrorReports = true;
      const offline = once(device, 'offline');
      const event = await device.recordEvent({ category: 'OSCrash' });
      await offline;
      expect((await device.pendingErrorReports()).events).toEqual([event]);
      refuseErrorReports = false;
      expect(await once(device, 'error-reports-sent')).toEqual([{ count: 1 }]);
      expect(await device.pendingErrorReports()).toEqual({ events: [], droppedTotal: 0 });
      expect(broker.connects.length).toBeGreaterThanOrEqual(2);
    });

    it('When not online, then a flush sends nothing', async () => {
      const made = await makeDeviceIdentity(pki.manufacturingCa);
      const device = track(
        new EmulatedDevice({ identity: identityFile(made, pki.root.certificatePem), brokerUrl: broker.url, errorReports: { store: new MemoryErrorQueueStore() } }),
      );
      await device.recordEvent({ category: 'OSCrash' });
      expect(await device.flushErrorReports()).toBe(0);
      expect((await device.pendingErrorReports()).events).toHaveLength(1);
    });

    it('refuses events that break the schema, and recording without errorReports', async () => {
      const made = await makeDeviceIdentity(pki.manufacturingCa);
      const identity = identityFile(made, pki.root.certificatePem);
      const device = new EmulatedDevice({ identity, brokerUrl: broker.url, errorReports: { store: new MemoryErrorQueueStore() } });
      await expect(device.recordEvent({ category: 'AppCrash', ...image, signal: 99 })).rejects.toThrow(/not a valid error event: \/signal/);
      expect((await device.pendingErrorReports()).events).toEqual([]);
      const plain = new EmulatedDevice({ identity, brokerUrl: broker.url });
      await expect(plain.recordEvent({ category: 'OSCrash' })).rejects.toThrow(/not configured/);
      expect(await plain.flushErrorReports()).toBe(0);
      expect(() => new EmulatedDevice({ identity, brokerUrl: broker.url, errorReports: { store: new MemoryErrorQueueStore(), batchSize: 101 } })).toThrow(
        /batchSize/,
      );
    });

    it('When crash injection is on, then it records crashes of its installed images while started', async () => {
      const made = await makeDeviceIdentity(pki.manufacturingCa);
      const device = track(
        new EmulatedDevice({
          identity: identityFile(made, pki.root.certificatePem),
          brokerUrl: broker.url,
          installedImages: [image],
          // A mean of 10 ms between crashes.
          errorReports: { store: new MemoryErrorQueueStore(), crashInjection: { perHour: 360_000 } },
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect((await device.pendingErrorReports()).events).toEqual([]);
      device.start();
      await once(device, 'error-reports-sent');
      await device.stop();
      const crashes = reportsOf(made.deviceId).flatMap((r) => r.events);
      expect(crashes.length).toBeGreaterThanOrEqual(1);
      for (const c of crashes) expect(c).toMatchObject({ category: 'AppCrash', ...image, signal: 11, count: 1 });
      const after = (await device.pendingErrorReports()).events.length;
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect((await device.pendingErrorReports()).events).toHaveLength(after);
    });
  });

  it('refuses a broker URL that is not mqtts', async () => {
    const made = await makeDeviceIdentity(pki.manufacturingCa);
    expect(() => new EmulatedDevice({ identity: identityFile(made, pki.root.certificatePem), brokerUrl: 'mqtt://localhost:1883' })).toThrow(/mqtts/);
  });
});
