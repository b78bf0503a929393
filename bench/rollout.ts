/**
 * Scenario d: an over-the-air rollout. Spheregate (its own process when isolated; SQLite;
 * SPHEREGATE_UPDATE_DELAY_WINDOW=0) and a tenant whose N manufactured, claimed devices are assigned to one group
 * and all connected as EmulatedDevices in this process, with updates configured to trust the tenant's signing key
 * and a delay window of 0 s. A repetition uploads a new signed image of B bytes (a new version of the same
 * component) and creates a deployment of it to the group: the time from createDeployment until every device has
 * reported `installed` (counted from the devices' 'image-state' events, confirmed by the deployment's progress
 * over GraphQL), and the MB/s delivered (N × B / time).
 *
 * Floor, in the same run, alternating the order: a plain node:https server (bench/https-floor.ts, its own process
 * when isolated) with the same mutual TLS — Spheregate's server certificate, client certificates checked against
 * the manufacturing CA — serving the same bytes from memory to the same devices (node:https GETs with each
 * device's identity key and certificate, a fresh connection each, as the devices download), as many at once as
 * the devices reached at their peak.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makePackage } from '../contract/image/package.js';
import { EmulatedDevice, MemoryInstalledStore, manufacture, tlsIdentity, type IdentityFile, type ImageStateReport, type TlsIdentity } from '../device-agent/index.js';
import { startHttpsFloorChild, startSpheregateChild } from './child-process.js';
import { gql } from './fleet.js';
import { startHttpsFloor, type HttpsFloor } from './https-floor.js';
import { median, percentile, spread, type Spread } from './stats.js';
import { pkiFilesOf, selfUsage, startSpheregateTarget, type ProcessUsage, type RunningSpheregate } from './targets.js';

export type RolloutSide = 'spheregate' | 'https-floor';
export const ROLLOUT_SIDES: readonly RolloutSide[] = ['spheregate', 'https-floor'];

export interface RolloutOptions {
  readonly devices: number;
  readonly reps: number;
  /** Payload size. @default 262144 (256 KiB) */
  readonly imageBytes?: number;
  /** Spheregate and the floor each in its own process. Off: all in this process (the smoke test). */
  readonly isolate: boolean;
  /** Devices connecting at once while the fleet comes online. @default 50 */
  readonly connectConcurrency?: number;
  readonly onProgress?: (line: string) => void;
}

export interface RolloutMeasurement {
  /** From createDeployment (floor: the first GET) until the last device finished. */
  readonly seconds: number;
  /** Payload bytes delivered and installed (floor: received and checked) per second, in 10⁶ bytes. */
  readonly megabytesPerSecond: number;
  /** Devices that installed the image (floor: downloads whose SHA-256 matched). */
  readonly completed: number;
  /** Spheregate: the deployment's progress.installed over GraphQL afterwards; floor: as completed. */
  readonly confirmed: number;
  /** Reported failed or rejected (floor: an error, not 200, or a wrong SHA-256). */
  readonly failed: number;
  /** Neither installed nor failed when the run's time ran out. */
  readonly lost: number;
  /** The server process's CPU time over the run, per device. */
  readonly serverCpuMsPerDevice: number;
  /** Per device, from the start to `installed` (floor: to the end of its download). */
  readonly p50Seconds: number;
  readonly p99Seconds: number;
  /** Spheregate: most devices downloading at once (between `downloading` and the next report); floor: GETs allowed at once. */
  readonly concurrentDownloads: number;
}

export const ROLLOUT_METRICS: ReadonlyArray<keyof RolloutMeasurement> = [
  'seconds',
  'megabytesPerSecond',
  'completed',
  'confirmed',
  'failed',
  'lost',
  'serverCpuMsPerDevice',
  'p50Seconds',
  'p99Seconds',
  'concurrentDownloads',
];

export interface RolloutReport {
  readonly scenario: 'rollout';
  readonly devices: number;
  readonly imageBytes: number;
  readonly reps: number;
  readonly isolated: boolean;
  /** The window the devices use (their own option, overriding the service's, which is 0 too). */
  readonly delayWindowSeconds: number;
  /** Seconds the fleet took to come online (50 connecting at once) before the first repetition. */
  readonly connectSeconds: number;
  readonly runs: Readonly<Record<RolloutSide, readonly RolloutMeasurement[]>>;
  readonly medians: Readonly<Record<RolloutSide, Readonly<Record<keyof RolloutMeasurement, Spread>>>>;
  /** Spheregate's median over the floor's, per metric. */
  readonly ratios: Readonly<Record<keyof RolloutMeasurement, number>>;
}

const DELAY_WINDOW_SECONDS = 0;
const SERVICE_ENV = { SPHEREGATE_UPDATE_DELAY_WINDOW: String(DELAY_WINDOW_SECONDS), SPHEREGATE_DOWNLOAD_PORT: '0' } as const;
/** The service's claimDevices and assignDevices limit per call (schema/devices.graphql). */
const BATCH = 1000;
const MB = 1e6;

interface Tenant {
  readonly key: string;
  readonly signingPrivateKey: string;
  readonly signingPublicKey: string;
  readonly groupId: string;
}

export async function runRollout(opts: RolloutOptions): Promise<RolloutReport> {
  const say = opts.onProgress ?? (() => undefined);
  const imageBytes = opts.imageBytes ?? 256 * 1024;
  const workDir = await mkdtemp(join(tmpdir(), 'sg-bench-rollout-'));
  const dataDir = join(workDir, 'spheregate');
  await mkdir(dataDir, { recursive: true });
  const devices: EmulatedDevice[] = [];
  let service: RunningSpheregate | null = null;
  let floor: HttpsFloor | null = null;
  try {
    service = opts.isolate ? await startSpheregateChild(dataDir, { env: SERVICE_ENV }) : await startSpheregateTarget(dataDir, { env: SERVICE_ENV });
    const tenant = await createTenant(service);
    say(`rollout: manufacturing, claiming and assigning ${opts.devices} devices`);
    const identities = await fleetInGroup(service, tenant, opts.devices);
    const brokerUrl = `mqtts://localhost:${service.mqttPort}`;
    for (const identity of identities) {
      devices.push(
        new EmulatedDevice({
          identity,
          brokerUrl,
          updates: { store: new MemoryInstalledStore(), trustedSigningKeysPem: [tenant.signingPublicKey], delayWindowSeconds: DELAY_WINDOW_SECONDS },
        }),
      );
    }
    const connectBegin = performance.now();
    await bringOnline(devices, opts.connectConcurrency ?? 50, 60_000 + opts.devices * 200);
    const connectSeconds = (performance.now() - connectBegin) / 1000;
    say(`rollout: ${devices.length} devices online in ${connectSeconds.toFixed(1)} s`);
    floor = opts.isolate ? await startHttpsFloorChild(dataDir) : await startHttpsFloor(pkiFilesOf(dataDir), selfUsage);
    const tls = identities.map(tlsIdentity);

    const componentId = randomUUID();
    const runs: Record<RolloutSide, RolloutMeasurement[]> = { spheregate: [], 'https-floor': [] };
    for (let rep = 0; rep < opts.reps; rep++) {
      const image = await uploadImage(service, tenant, componentId, `1.${rep + 1}.0`, imageBytes);
      const file = join(workDir, `payload-${rep}.bin`);
      await writeFile(file, image.payload);
      // Alternate the order; Spheregate goes first in the first repetition, so the floor knows the devices' concurrency.
      for (const side of rep % 2 === 0 ? (['spheregate', 'https-floor'] as const) : (['https-floor', 'spheregate'] as const)) {
        const m =
          side === 'spheregate'
            ? await measureSpheregate(service, tenant, image.id, devices, imageBytes)
            : await measureFloor(floor, file, tls, image.sha256, imageBytes, floorConcurrency(runs.spheregate, devices.length));
        runs[side].push(m);
        say(
          `rollout rep ${rep + 1}/${opts.reps} ${side}: ${m.seconds.toFixed(2)} s, ${m.megabytesPerSecond.toFixed(1)} MB/s, ${m.serverCpuMsPerDevice.toFixed(2)} CPU ms/device, ` +
            `${m.completed} done (${m.confirmed} confirmed), ${m.failed} failed, ${m.lost} lost, ${m.concurrentDownloads} downloading at once`,
        );
      }
    }

    const medians = Object.fromEntries(
      ROLLOUT_SIDES.map((side) => [side, Object.fromEntries(ROLLOUT_METRICS.map((m) => [m, spread(runs[side].map((r) => r[m]))]))]),
    ) as RolloutReport['medians'];
    const ratios = Object.fromEntries(
      ROLLOUT_METRICS.map((m) => [m, medians.spheregate[m].median / (medians['https-floor'][m].median || Number.NaN)]),
    ) as RolloutReport['ratios'];
    return {
      scenario: 'rollout',
      devices: opts.devices,
      imageBytes,
      reps: opts.reps,
      isolated: opts.isolate,
      delayWindowSeconds: DELAY_WINDOW_SECONDS,
      connectSeconds,
      runs,
      medians,
      ratios,
    };
  } finally {
    await Promise.all(devices.map((d) => d.stop()));
    await floor?.close();
    await service?.close();
    await rm(workDir, { recursive: true, force: true });
  }
}

/** As many GETs at once as the devices reached at their peak (the median over the repetitions so far). */
function floorConcurrency(spheregate: readonly RolloutMeasurement[], devices: number): number {
  if (spheregate.length === 0) return devices;
  return Math.min(devices, Math.max(1, Math.round(median(spheregate.map((r) => r.concurrentDownloads)))));
}

/** A tenant (with its first signing key) and a product; the fleet goes into the product's Field Test group. */
async function createTenant(service: RunningSpheregate): Promise<Tenant> {
  const { createTenant } = await gql<{ createTenant: { adminKey: { secret: string }; signingKey: { privateKey: string; signingKey: { publicKey: string } } } }>(
    service.graphqlUrl,
    service.adminKey,
    'mutation { createTenant(input: { name: "Bench rollout" }) { adminKey { secret } signingKey { privateKey signingKey { publicKey } } } }',
  );
  const key = createTenant.adminKey.secret;
  const { createProduct } = await gql<{ createProduct: { deviceGroups: Array<{ id: string; name: string }> } }>(
    service.graphqlUrl,
    key,
    'mutation { createProduct(input: { name: "Bench thermostat" }) { deviceGroups { id name } } }',
  );
  const group = createProduct.deviceGroups.find((g) => g.name === 'Field Test');
  if (!group) throw new Error('the product has no Field Test group');
  return { key, signingPrivateKey: createTenant.signingKey.privateKey, signingPublicKey: createTenant.signingKey.signingKey.publicKey, groupId: group.id };
}

async function fleetInGroup(service: RunningSpheregate, tenant: Tenant, count: number): Promise<IdentityFile[]> {
  const identities = await manufacture({ serviceUrl: service.graphqlUrl, adminKey: service.adminKey, count, trustAnchorsPem: service.rootCaPem });
  for (let i = 0; i < identities.length; i += BATCH) {
    const ids = identities.slice(i, i + BATCH).map((d) => d.deviceId);
    for (const [mutation, variables] of [
      ['mutation($ids: [ID!]!) { r: claimDevices(deviceIds: $ids) { ok errorMessage } }', { ids }],
      ['mutation($ids: [ID!]!, $g: ID!) { r: assignDevices(deviceIds: $ids, deviceGroupId: $g) { ok errorMessage } }', { ids, g: tenant.groupId }],
    ] as const) {
      const { r } = await gql<{ r: Array<{ ok: boolean; errorMessage: string | null }> }>(service.graphqlUrl, tenant.key, mutation, variables);
      const refused = r.find((x) => !x.ok);
      if (refused) throw new Error(`refused: ${refused.errorMessage ?? '?'}`);
    }
  }
  return identities;
}

/** Starts every device, `concurrency` connecting at once, and waits until all are online. */
async function bringOnline(devices: readonly EmulatedDevice[], concurrency: number, timeoutMs: number): Promise<void> {
  let next = 0;
  const deadline = Date.now() + timeoutMs;
  const worker = async (): Promise<void> => {
    for (let d = devices[next++]; d; d = devices[next++]) {
      const device = d;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`device ${device.deviceId.slice(0, 8)}… not online in time`)), Math.max(1000, deadline - Date.now()));
        device.once('online', () => {
          clearTimeout(timer);
          resolve();
        });
        device.start();
      });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
}

/** createImage over GraphQL (the package signed with the tenant's key), then the payload over HTTP. */
async function uploadImage(service: RunningSpheregate, tenant: Tenant, componentId: string, version: string, size: number): Promise<{ id: string; payload: Buffer; sha256: string }> {
  const payload = randomBytes(size);
  const pkg = makePackage({ componentId, name: 'bench-app', version, type: 'Application' }, payload, tenant.signingPrivateKey);
  const { createImage } = await gql<{ createImage: { image: { id: string; uploadPath: string } } }>(
    service.graphqlUrl,
    tenant.key,
    'mutation($input: CreateImageInput!) { createImage(input: $input) { image { id uploadPath } } }',
    { input: { ...pkg.metadata, signature: pkg.signature } },
  );
  const res = await fetch(`${service.graphqlUrl.replace(/\/graphql$/, '')}${createImage.image.uploadPath}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${tenant.key}`, 'content-type': 'application/octet-stream' },
    body: payload,
  });
  if (res.status !== 200) throw new Error(`payload upload answered ${res.status}: ${await res.text()}`);
  return { id: createImage.image.id, payload, sha256: pkg.metadata.sha256 };
}

interface Progress {
  readonly installed: number;
  readonly failed: number;
  readonly rejected: number;
}

async function deploymentProgress(service: RunningSpheregate, key: string, id: string): Promise<Progress> {
  const { deployment } = await gql<{ deployment: { progress: Progress } }>(service.graphqlUrl, key, 'query($id: ID!) { deployment(id: $id) { progress { installed failed rejected } } }', { id });
  return deployment.progress;
}

/** A deployment of the image to the fleet's group, until every device has installed it (or failed, or time ran out). */
async function measureSpheregate(service: RunningSpheregate, tenant: Tenant, imageId: string, devices: readonly EmulatedDevice[], imageBytes: number): Promise<RolloutMeasurement> {
  const n = devices.length;
  const timeoutMs = 60_000 + n * 300;
  const finishTimes: number[] = [];
  let completed = 0;
  let failed = 0;
  let downloading = 0;
  let peak = 0;
  let last = 0;
  let begin = 0;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const listeners = devices.map((device) => {
    let busy = false;
    const listener = (report: ImageStateReport): void => {
      if (report.imageId.toLowerCase() !== imageId.toLowerCase()) return;
      if (busy) {
        busy = false;
        downloading--;
      }
      switch (report.state) {
        case 'downloading':
          busy = true;
          peak = Math.max(peak, ++downloading);
          return;
        case 'installed':
          completed++;
          break;
        case 'failed':
        case 'rejected':
          failed++;
          break;
        default:
          return;
      }
      last = performance.now();
      finishTimes.push((last - begin) / 1000);
      if (completed + failed === n) finish();
    };
    device.on('image-state', listener);
    return { device, listener };
  });
  try {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const before = await service.usage();
    begin = performance.now();
    const { createDeployment } = await gql<{ createDeployment: { id: string } }>(
      service.graphqlUrl,
      tenant.key,
      'mutation($g: ID!, $i: [ID!]!) { createDeployment(deviceGroupId: $g, imageIds: $i) { id } }',
      { g: tenant.groupId, i: [imageId] },
    );
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([finished, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    const end = completed + failed === n ? last : performance.now();
    const after: ProcessUsage = await service.usage();
    // Every report was acknowledged only once recorded: the progress should agree at once; allow it a moment.
    let progress = await deploymentProgress(service, tenant.key, createDeployment.id);
    for (let waited = 0; progress.installed + progress.failed + progress.rejected < completed + failed && waited < 10_000; waited += 250) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      progress = await deploymentProgress(service, tenant.key, createDeployment.id);
    }
    const seconds = (end - begin) / 1000;
    return {
      seconds,
      megabytesPerSecond: (completed * imageBytes) / MB / seconds,
      completed,
      confirmed: progress.installed,
      failed,
      lost: n - completed - failed,
      serverCpuMsPerDevice: (after.cpuMs - before.cpuMs) / n,
      p50Seconds: median(finishTimes),
      p99Seconds: percentile(finishTimes, 0.99),
      concurrentDownloads: peak,
    };
  } finally {
    for (const { device, listener } of listeners) device.off('image-state', listener);
  }
}

/** The same bytes to the same devices from the plain HTTPS server, `concurrency` GETs at once. */
async function measureFloor(floor: HttpsFloor, file: string, clients: readonly TlsIdentity[], sha256: string, imageBytes: number, concurrency: number): Promise<RolloutMeasurement> {
  await floor.serve(file);
  const n = clients.length;
  const finishTimes: number[] = [];
  let completed = 0;
  let failed = 0;
  let next = 0;
  await new Promise((resolve) => setTimeout(resolve, 200));
  const before = await floor.usage();
  const begin = performance.now();
  const worker = async (): Promise<void> => {
    for (let tls = clients[next++]; tls; tls = clients[next++]) {
      const ok = await download(floor.url, tls, sha256).catch(() => false);
      if (ok) completed++;
      else failed++;
      finishTimes.push((performance.now() - begin) / 1000);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, worker));
  const seconds = (performance.now() - begin) / 1000;
  const after = await floor.usage();
  return {
    seconds,
    megabytesPerSecond: (completed * imageBytes) / MB / seconds,
    completed,
    confirmed: completed,
    failed,
    lost: n - completed - failed,
    serverCpuMsPerDevice: (after.cpuMs - before.cpuMs) / n,
    p50Seconds: median(finishTimes),
    p99Seconds: percentile(finishTimes, 0.99),
    concurrentDownloads: Math.min(n, concurrency),
  };
}

/** One GET as a device makes it (a fresh mutual-TLS connection, closed after): true when the SHA-256 matches. */
function download(url: string, tls: TlsIdentity, sha256: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', key: tls.key, cert: tls.cert, ca: tls.ca, rejectUnauthorized: true, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        resolve(false);
        return;
      }
      const hash = createHash('sha256');
      res.on('data', (chunk: Buffer) => hash.update(chunk));
      res.on('end', () => resolve(hash.digest('hex') === sha256));
      res.on('error', reject);
    });
    req.setTimeout(60_000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}
