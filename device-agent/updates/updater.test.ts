/**
 * Over-the-air updates of an EmulatedDevice, against a tiny stand-in for the service: aedes on node tls (mutual TLS,
 * the test PKI) that answers every status report with the device's current target on down/update, and a local
 * HTTPS payload server with mutual TLS. The real Spheregate service is exercised in test/e2e/updates.test.ts.
 */
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { Aedes } from 'aedes';
import { makePackage, type ImageType } from '../../contract/image/package.js';
import { decode, encode } from '../../contract/mqtt/codec.js';
import type { StatusReport, TargetImage, UpdateStatus, UpdateTarget } from '../../contract/mqtt/messages.js';
import { downTopic, isOwnDownFilter, upTopic } from '../../contract/mqtt/topics.js';
import { deviceIdUri } from '../../contract/identity.js';
import { makeDeviceIdentity, makeTestPki, type TestPki } from '../../test/fixtures/pki.js';
import { EmulatedDevice, type EmulatedDeviceOptions } from '../emulated-device.js';
import { FileInstalledStore, MemoryInstalledStore } from './installed-store.js';
import type { IdentityFile } from '../identity.js';
import type { UpdateOptions } from './updater.js';
import { startPayloadServer, type PayloadServer } from './test-support/payload-server.js';

interface FakeService {
  readonly url: string;
  readonly published: Array<{ topic: string; payload: Buffer; qos: number }>;
  /** What each device should run; sent after each of its status reports. */
  readonly targets: Map<string, UpdateTarget>;
  /** Sends the device its target now (as the service does when the target changes). */
  send(deviceId: string, target: UpdateTarget): void;
  close(): Promise<void>;
}

async function startFakeService(pki: TestPki): Promise<FakeService> {
  const published: FakeService['published'] = [];
  const targets = new Map<string, UpdateTarget>();
  const aedes = await Aedes.createBroker({
    authorizeSubscribe: (client, subscription, done) => done(null, isOwnDownFilter(client.id, subscription.topic) ? subscription : null),
  });
  const send = (deviceId: string, target: UpdateTarget): void =>
    aedes.publish({ cmd: 'publish', topic: downTopic(deviceId, 'update'), payload: encode('update', target), qos: 1, retain: false, dup: false }, () => undefined);
  aedes.on('publish', (packet, client) => {
    if (!client) return;
    published.push({ topic: packet.topic, payload: Buffer.from(packet.payload), qos: packet.qos });
    const target = targets.get(client.id);
    if (packet.topic === upTopic(client.id, 'status') && target) send(client.id, target);
  });
  const server = tls.createServer(
    { key: pki.server.keyPem, cert: pki.server.chainPem, ca: pki.manufacturingCa.certificatePem, requestCert: true, rejectUnauthorized: true },
    (socket) => aedes.handle(socket),
  );
  server.on('tlsClientError', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `mqtts://localhost:${(server.address() as AddressInfo).port}`,
    published,
    targets,
    send,
    async close() {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const signing = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const SIGNING_PRIVATE_KEY = signing.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const SIGNING_PUBLIC_KEY = signing.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const ROGUE_PRIVATE_KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

async function until(predicate: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('EmulatedDevice over-the-air updates', () => {
  let pki: TestPki;
  let service: FakeService;
  let downloads: PayloadServer;
  let dir: string;
  const devices: EmulatedDevice[] = [];

  beforeAll(async () => {
    pki = await makeTestPki();
  });
  beforeEach(async () => {
    service = await startFakeService(pki);
    downloads = await startPayloadServer({ keyPem: pki.server.keyPem, certificatePem: pki.server.chainPem, clientCaPem: pki.manufacturingCa.certificatePem });
    dir = await mkdtemp(join(tmpdir(), 'spheregate-updates-'));
  });
  afterEach(async () => {
    await Promise.all(devices.splice(0).map((d) => d.stop()));
    await downloads.close();
    await service.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A signed image whose payload the download server serves (unless `served` is false or another payload is given). */
  function image(opts: { type?: ImageType; componentId?: string; version?: string; size?: number; signer?: string; served?: Buffer | false } = {}): TargetImage {
    const payload = randomBytes(opts.size ?? 20_000);
    const pkg = makePackage(
      { componentId: opts.componentId ?? randomUUID(), name: opts.type === 'OS' ? 'os' : 'app', version: opts.version ?? '1.0.0', type: opts.type ?? 'Application' },
      payload,
      opts.signer ?? SIGNING_PRIVATE_KEY,
    );
    const imageId = randomUUID();
    const path = `/images/${imageId}/payload`;
    if (opts.served !== false) downloads.payloads.set(path, opts.served ?? payload);
    return { imageId, ...pkg.metadata, signature: pkg.signature, url: `${downloads.baseUrl}${path}` };
  }

  const target = (deploymentId: string | null, images: TargetImage[]): UpdateTarget => ({ v: 1, deploymentId, images, delayWindowSeconds: 0 });

  async function newIdentity(): Promise<IdentityFile> {
    const made = await makeDeviceIdentity(pki.manufacturingCa);
    return { version: 1, deviceId: made.deviceId, privateKeyPem: made.keyPem, certificatePem: made.certificatePem, trustAnchorsPem: pki.root.certificatePem };
  }

  async function device(over: Partial<UpdateOptions> = {}, options: Partial<EmulatedDeviceOptions> = {}): Promise<EmulatedDevice> {
    const d = new EmulatedDevice({
      identity: options.identity ?? (await newIdentity()),
      brokerUrl: service.url,
      backoff: { baseMs: 20, capMs: 100 },
      updates: { store: new MemoryInstalledStore(), trustedSigningKeysPem: [SIGNING_PUBLIC_KEY], delayWindowSeconds: 0, retry: { delayMs: () => 0 }, ...over },
      ...options,
    });
    devices.push(d);
    return d;
  }

  const online = async (d: EmulatedDevice): Promise<void> => {
    const up = once(d, 'online');
    d.start();
    await up;
  };

  const reportsOf = (deviceId: string): UpdateStatus[] =>
    service.published
      .filter((p) => p.topic === upTopic(deviceId, 'update-status'))
      .map((p) => {
        expect(p.qos).toBe(1);
        const decoded = decode('update-status', p.payload);
        if (!decoded.ok) throw new Error(decoded.error);
        return decoded.value;
      });
  const statusesOf = (deviceId: string): StatusReport[] =>
    service.published
      .filter((p) => p.topic === upTopic(deviceId, 'status'))
      .map((p) => {
        const decoded = decode('status', p.payload);
        if (!decoded.ok) throw new Error(decoded.error);
        return decoded.value;
      });
  const statesOf = (deviceId: string, imageId: string): string[] => reportsOf(deviceId).filter((r) => r.imageId === imageId).map((r) => r.state);

  it('installs an application: reports each step, replaces the old image of its component, restarts it and reports a fresh status', async () => {
    const componentId = randomUUID();
    const old = { componentId, imageId: randomUUID(), name: 'app', version: '0.9.0' };
    const next = image({ componentId, version: '1.0.0' });
    const store = FileInstalledStore.besideIdentity(join(dir, 'device.json'));
    const identity = await newIdentity();
    const d = await device({ store }, { identity, installedImages: [old], osVersion: '24.10.1' });
    const deploymentId = randomUUID();
    service.targets.set(d.deviceId, target(deploymentId, [next]));
    const heard: UpdateTarget[] = [];
    d.on('update-target', (t) => heard.push(t));
    const events: unknown[] = [];
    d.on('image-state', (s) => events.push(s));
    d.on('application-restarted', (a) => events.push({ restarted: a }));

    await online(d);
    // Acknowledged: the device emits the report after its PUBACK.
    await until(() => events.length === 5, 'the install');

    expect(reportsOf(d.deviceId)).toEqual(
      ['pending', 'downloading', 'installing', 'installed'].map((state) => ({ v: 1, deploymentId, imageId: next.imageId, state })),
    );
    expect(events).toEqual([
      { imageId: next.imageId, state: 'pending' },
      { imageId: next.imageId, state: 'downloading' },
      { imageId: next.imageId, state: 'installing' },
      { restarted: { componentId, imageId: next.imageId } },
      { imageId: next.imageId, state: 'installed' },
    ]);
    expect(heard[0]).toEqual(target(deploymentId, [next]));
    // Downloaded once, with the device's own certificate.
    expect(downloads.requests).toEqual([{ path: `/images/${next.imageId}/payload`, range: undefined, clientSan: `URI:${deviceIdUri(d.deviceId)}` }]);

    const installedImage = { componentId, imageId: next.imageId, name: 'app', version: '1.0.0', sha256: next.sha256 };
    // After connecting, then after the install; the target that follows it asks for nothing more.
    await new Promise((r) => setTimeout(r, 100));
    expect(statusesOf(d.deviceId).map((s) => s.installedImages)).toEqual([[old], [installedImage]]);
    expect(reportsOf(d.deviceId)).toHaveLength(4);
    expect(await d.installed()).toEqual({ osVersion: '24.10.1', osImageId: null, images: [installedImage] });

    // Survives a restart: a new device on the same file reports what was installed, and downloads nothing again
    // (knowing no more than that it runs the image, it says so once).
    await d.stop();
    const again = await device({ store: FileInstalledStore.besideIdentity(join(dir, 'device.json')) }, { identity, installedImages: [old] });
    await online(again);
    await until(() => reportsOf(d.deviceId).length === 5, 'the report after restarting');
    expect(statusesOf(d.deviceId)[2]?.installedImages).toEqual([installedImage]);
    expect(reportsOf(d.deviceId)[4]).toEqual({ v: 1, deploymentId, imageId: next.imageId, state: 'already-installed' });
    expect(downloads.requests).toHaveLength(1);
  });

  it('reports an image it already runs as already-installed once per deployment, and not at all for the OS feed alone', async () => {
    const app = image();
    const d = await device({}, { installedImages: [{ componentId: app.componentId, imageId: app.imageId }] });
    const first = randomUUID();
    service.targets.set(d.deviceId, target(first, [app]));
    await online(d);
    await until(() => reportsOf(d.deviceId).length === 1, 'the first report');

    // The same target again (after another status report), then a new deployment, then the OS feed alone.
    await d.reportStatus();
    const second = randomUUID();
    service.send(d.deviceId, target(second, [app]));
    await until(() => reportsOf(d.deviceId).length === 2, 'the second report');
    service.send(d.deviceId, target(null, [app]));
    await new Promise((r) => setTimeout(r, 200));

    expect(reportsOf(d.deviceId)).toEqual([
      { v: 1, deploymentId: first, imageId: app.imageId, state: 'already-installed' },
      { v: 1, deploymentId: second, imageId: app.imageId, state: 'already-installed' },
    ]);
    expect(downloads.requests).toEqual([]);
  });

  it('rejects a tampered payload and an untrusted signature, never installs them, and does not try them again for the same target', async () => {
    const genuine = randomBytes(20_000);
    const tamperedPayload = Buffer.from(genuine);
    tamperedPayload[10] = (tamperedPayload[10] ?? 0) ^ 0xff;
    const tampered = image({ size: 20_000, served: tamperedPayload });
    const untrusted = image({ signer: ROGUE_PRIVATE_KEY });
    const d = await device();
    const deploymentId = randomUUID();
    service.targets.set(d.deviceId, target(deploymentId, [tampered, untrusted]));
    await online(d);
    await until(() => reportsOf(d.deviceId).length === 6, 'both images to be rejected');

    expect(reportsOf(d.deviceId)).toEqual([
      { v: 1, deploymentId, imageId: tampered.imageId, state: 'pending' },
      { v: 1, deploymentId, imageId: tampered.imageId, state: 'downloading' },
      { v: 1, deploymentId, imageId: tampered.imageId, state: 'rejected', reason: 'sha256 mismatch' },
      { v: 1, deploymentId, imageId: untrusted.imageId, state: 'pending' },
      { v: 1, deploymentId, imageId: untrusted.imageId, state: 'downloading' },
      { v: 1, deploymentId, imageId: untrusted.imageId, state: 'rejected', reason: 'signature' },
    ]);
    expect((await d.installed()).images).toEqual([]);

    service.send(d.deviceId, target(deploymentId, [tampered, untrusted]));
    await new Promise((r) => setTimeout(r, 200));
    expect(reportsOf(d.deviceId)).toHaveLength(6);
    expect(downloads.requests).toHaveLength(2);
  });

  it('installs the OS first and reboots: the connection starts over, uptime resets, the status tells the new OS, then the application follows', async () => {
    const app = image();
    const os = image({ type: 'OS', version: '25.2.0' });
    const d = await device({}, { osVersion: '24.10' });
    const deploymentId = randomUUID();
    service.targets.set(d.deviceId, target(deploymentId, [app, os]));
    const seen: string[] = [];
    d.on('image-state', (s) => seen.push(`${s.imageId === os.imageId ? 'os' : 'app'} ${s.state}`));
    d.on('rebooting', (r) => seen.push(`rebooting ${r.reason}`));
    d.on('state', (s) => seen.push(s.state));

    await online(d);
    await until(() => seen.includes('app installed'), 'the application after the reboot');

    expect(seen).toEqual([
      'connecting',
      'online',
      'os pending',
      'os downloading',
      'os installing',
      'os installed',
      'rebooting os-update',
      'stopped',
      'connecting',
      'online',
      'app pending',
      'app downloading',
      'app installing',
      'app installed',
    ]);
    const statuses = statusesOf(d.deviceId);
    expect(statuses.map((s) => s.osVersion)).toEqual(['24.10', '25.2.0', '25.2.0']);
    expect(statuses[1]?.uptimeSeconds).toBe(0);
    expect(await d.installed()).toEqual({
      osVersion: '25.2.0',
      osImageId: os.imageId,
      images: [{ componentId: app.componentId, imageId: app.imageId, name: 'app', version: '1.0.0', sha256: app.sha256 }],
    });
    // The OS it installed itself is not reported as already installed after the reboot.
    expect(statesOf(d.deviceId, os.imageId)).toEqual(['pending', 'downloading', 'installing', 'installed']);
  });

  it('When the device restarts mid-install, then nothing is recorded, it reboots, and the next target installs it', async () => {
    const app = image();
    let attempts = 0;
    const d = await device({ installHook: async () => (++attempts === 1 ? 'reboot' : 'ok') });
    service.targets.set(d.deviceId, target(randomUUID(), [app]));
    const reboots: string[] = [];
    d.on('rebooting', (r) => reboots.push(r.reason));
    await online(d);
    await until(() => statesOf(d.deviceId, app.imageId).includes('installed'), 'the second install');

    expect(reboots).toEqual(['install-crash']);
    expect(statesOf(d.deviceId, app.imageId)).toEqual(['pending', 'downloading', 'installing', 'pending', 'downloading', 'installing', 'installed']);
    // After the crash, the device said it still ran nothing.
    expect(statusesOf(d.deviceId).map((s) => s.installedImages.length)).toEqual([0, 0, 1]);
  });

  it('reports failed with a reason when the install fails or the download server refuses', async () => {
    const broken = image();
    const missing = image({ served: false });
    const d = await device({ installHook: async (i) => (i.imageId === broken.imageId ? { fail: 'crashed on first start' } : 'ok') });
    service.targets.set(d.deviceId, target(randomUUID(), [broken, missing]));
    await online(d);
    await until(() => reportsOf(d.deviceId).length === 7, 'both failures');

    expect(reportsOf(d.deviceId).map(({ imageId, state, reason }) => [imageId === broken.imageId ? 'broken' : 'missing', state, reason])).toEqual([
      ['broken', 'pending', undefined],
      ['broken', 'downloading', undefined],
      ['broken', 'installing', undefined],
      ['broken', 'failed', 'crashed on first start'],
      ['missing', 'pending', undefined],
      ['missing', 'downloading', undefined],
      ['missing', 'failed', 'download: HTTP 404'],
    ]);
    expect((await d.installed()).images).toEqual([]);
  });

  it('When a download is interrupted, then it resumes with Range from where it stopped', async () => {
    const app = image({ size: 50_000 });
    const d = await device({ interruptDownloadAfterBytes: 12_345 });
    service.targets.set(d.deviceId, target(randomUUID(), [app]));
    const resumed: unknown[] = [];
    d.on('download-resumed', (r) => resumed.push(r));
    await online(d);
    await until(() => statesOf(d.deviceId, app.imageId).includes('installed'), 'the install');

    expect(resumed).toEqual([{ imageId: app.imageId, offset: 12_345 }]);
    expect(downloads.requests.map((r) => r.range)).toEqual([undefined, 'bytes=12345-']);
  });

  it('When a newer target arrives mid-run, then after the current image it drops images no longer wanted and takes the new ones', async () => {
    const a = image();
    const b = image();
    const c = image();
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const d = await device({ installHook: async (i) => (i.imageId === a.imageId ? held.then(() => 'ok' as const) : 'ok') });
    const first = randomUUID();
    const second = randomUUID();
    service.targets.set(d.deviceId, target(first, [a, b]));
    await online(d);
    await until(() => statesOf(d.deviceId, a.imageId).includes('installing'), 'the first image to be installing');

    service.targets.set(d.deviceId, target(second, [a, c]));
    service.send(d.deviceId, target(second, [a, c]));
    await new Promise((r) => setTimeout(r, 100));
    release();
    await until(
      () => statesOf(d.deviceId, a.imageId).includes('already-installed') && statesOf(d.deviceId, c.imageId).includes('installed'),
      'the new deployment to be done',
    );

    // a finished under the first deployment, and the new deployment hears it runs a; b was dropped unseen.
    expect(reportsOf(d.deviceId).filter((r) => r.imageId === a.imageId).map((r) => [r.deploymentId === first ? 'first' : 'second', r.state])).toEqual([
      ['first', 'pending'],
      ['first', 'downloading'],
      ['first', 'installing'],
      ['first', 'installed'],
      ['second', 'already-installed'],
    ]);
    expect(statesOf(d.deviceId, c.imageId)).toEqual(['pending', 'downloading', 'installing', 'installed']);
    expect(statesOf(d.deviceId, b.imageId)).toEqual([]);
    expect(downloads.requests.map((r) => r.path)).toEqual([`/images/${a.imageId}/payload`, `/images/${c.imageId}/payload`]);
    expect(reportsOf(d.deviceId).filter((r) => r.imageId === c.imageId).every((r) => r.deploymentId === second)).toBe(true);
    expect((await d.installed()).images.map((i) => i.imageId).sort()).toEqual([a.imageId, c.imageId].sort());
  });

  it('When stopped during the random delay, then the run ends there: nothing is downloaded and stop() resolves promptly', async () => {
    const app = image();
    const d = await device({ delayWindowSeconds: 3600, random: () => 0.5 });
    service.targets.set(d.deviceId, target(randomUUID(), [app]));
    await online(d);
    await until(() => statesOf(d.deviceId, app.imageId).includes('pending'), 'the pending report');

    const began = Date.now();
    await d.stop();
    expect(Date.now() - began).toBeLessThan(2_500);
    await new Promise((r) => setTimeout(r, 100));
    expect(statesOf(d.deviceId, app.imageId)).toEqual(['pending']);
    expect(downloads.requests).toEqual([]);
  });

  it('reports what its store holds, not its options, and without updates configured only emits the targets it hears', async () => {
    const store = new MemoryInstalledStore();
    const held = { componentId: randomUUID(), imageId: randomUUID(), sha256: 'cd'.repeat(32) };
    await store.save({ osVersion: '25.1.0', osImageId: randomUUID(), images: [held] });
    const fromStore = await device({ store }, { osVersion: '24.10', installedImages: [] });
    await online(fromStore);
    expect(statusesOf(fromStore.deviceId)[0]).toMatchObject({ osVersion: '25.1.0', installedImages: [held] });

    const app = image();
    const plain = await device({}, { updates: undefined });
    service.targets.set(plain.deviceId, target(randomUUID(), [app]));
    const heard = new Promise<UpdateTarget[]>((resolve) => plain.once('update-target', (t) => resolve([t])));
    await online(plain);
    expect((await heard)[0]?.images[0]?.imageId).toBe(app.imageId);
    await new Promise((r) => setTimeout(r, 100));
    expect(reportsOf(plain.deviceId)).toEqual([]);
    expect(await plain.installed()).toEqual({ osVersion: '24.10', osImageId: null, images: [] });
  });
});
