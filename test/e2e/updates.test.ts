/**
 * Over-the-air updates end to end: signed images uploaded over GraphQL + HTTP, deployments and OS feeds, real
 * emulated devices over mutual TLS that download over HTTPS (mutual TLS, Range), verify and install, staged
 * rollouts that halt themselves, and live progress over graphql-ws.
 */
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makePackage, type ImageType } from '../../contract/image/package.js';
import type { TargetImage, UpdateTarget } from '../../contract/mqtt/messages.js';
import { EmulatedDevice, MemoryInstalledStore, type IdentityFile, type UpdateOptions } from '../../device-agent/index.js';
import { TEST_DATABASES } from '../db.js';
import { errorCodes, gql, gqlOk, startTestService, subscribe, until, type TestService } from '../harness.js';
import { claim, manufactureDevices } from './certificate-support.js';

interface UpdateTenant {
  readonly id: string;
  readonly key: string;
  readonly signingPrivateKey: string;
  readonly signingPublicKey: string;
  readonly productId: string;
  readonly groups: Readonly<Record<string, string>>;
}

interface Progress {
  total: number;
  pending: number;
  downloading: number;
  installing: number;
  installed: number;
  failed: number;
  rejected: number;
}

const PLATFORM_KEY = (() => {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
})();

describe.each(TEST_DATABASES)('over-the-air updates on %s', (kind) => {
  let svc: TestService;
  let tenant: UpdateTenant;
  const devices: EmulatedDevice[] = [];

  beforeAll(async () => {
    svc = await startTestService(kind, { env: { SPHEREGATE_ROLLOUT_INTERVAL_MS: '200', SPHEREGATE_UPDATE_DELAY_WINDOW: '0' } });
    await gqlOk(svc.graphqlUrl, svc.running.adminKey, `mutation($k: String!) { registerSigningKey(name: "OS signing", publicKey: $k) { id } }`, { k: PLATFORM_KEY.publicKeyPem });
    tenant = await createUpdateTenant(`Updates ${kind}`);
  });
  afterAll(async () => {
    await Promise.all(devices.map((d) => d.stop()));
    await svc.dispose();
  });

  async function createUpdateTenant(name: string): Promise<UpdateTenant> {
    const { createTenant } = await gqlOk<{ createTenant: { tenant: { id: string }; adminKey: { secret: string }; signingKey: { privateKey: string; signingKey: { publicKey: string } } } }>(
      svc.graphqlUrl,
      svc.running.adminKey,
      `mutation($name: String!) { createTenant(input: { name: $name }) { tenant { id } adminKey { secret } signingKey { privateKey signingKey { publicKey } } } }`,
      { name },
    );
    const key = createTenant.adminKey.secret;
    const { createProduct } = await gqlOk<{ createProduct: { id: string; deviceGroups: Array<{ id: string; name: string }> } }>(
      svc.graphqlUrl,
      key,
      `mutation { createProduct(input: { name: "Thermostat" }) { id deviceGroups { id name } } }`,
    );
    return {
      id: createTenant.tenant.id,
      key,
      signingPrivateKey: createTenant.signingKey.privateKey,
      signingPublicKey: createTenant.signingKey.signingKey.publicKey,
      productId: createProduct.id,
      groups: Object.fromEntries(createProduct.deviceGroups.map((g) => [g.name, g.id])),
    };
  }

  /** createImage over GraphQL, then the payload over HTTP: the way a manufacturer's pipeline uploads. */
  async function uploadImage(
    key: string,
    privateKeyPem: string,
    opts: { componentId?: string; version?: string; type?: ImageType; size?: number } = {},
  ): Promise<{ id: string; componentId: string; payload: Buffer }> {
    const payload = randomBytes(opts.size ?? 4096);
    const pkg = makePackage({ componentId: opts.componentId ?? randomUUID(), name: 'app', version: opts.version ?? '1.0.0', type: opts.type ?? 'Application' }, payload, privateKeyPem);
    const { createImage } = await gqlOk<{ createImage: { image: { id: string; uploadPath: string } } }>(
      svc.graphqlUrl,
      key,
      `mutation($input: CreateImageInput!) { createImage(input: $input) { image { id uploadPath } } }`,
      { input: { ...pkg.metadata, signature: pkg.signature } },
    );
    const res = await fetch(`${svc.graphqlUrl.replace(/\/graphql$/, '')}${createImage.image.uploadPath}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/octet-stream' },
      body: payload,
    });
    expect(res.status).toBe(200);
    return { id: createImage.image.id, componentId: pkg.metadata.componentId, payload };
  }

  /** A new product of the tenant: its five default groups, used by one test only. */
  async function freshGroups(t: UpdateTenant): Promise<Record<string, string>> {
    const { createProduct } = await gqlOk<{ createProduct: { deviceGroups: Array<{ id: string; name: string }> } }>(
      svc.graphqlUrl,
      t.key,
      `mutation($n: String!) { createProduct(input: { name: $n }) { deviceGroups { id name } } }`,
      { n: `Product ${randomUUID().slice(0, 8)}` },
    );
    return Object.fromEntries(createProduct.deviceGroups.map((g) => [g.name, g.id]));
  }

  async function claimedInto(t: UpdateTenant, group: string, count: number, groups: Readonly<Record<string, string>> = t.groups): Promise<IdentityFile[]> {
    const identities = await manufactureDevices(svc, count);
    await claim(svc, { id: t.id, key: t.key }, identities);
    await gqlOk(svc.graphqlUrl, t.key, `mutation($ids: [ID!]!, $g: ID!) { assignDevices(deviceIds: $ids, deviceGroupId: $g) { ok } }`, {
      ids: identities.map((i) => i.deviceId),
      g: groups[group],
    });
    return identities;
  }

  function device(identity: IdentityFile, t: UpdateTenant = tenant, over: Partial<UpdateOptions> = {}): EmulatedDevice {
    const d = new EmulatedDevice({
      identity,
      brokerUrl: svc.mqttUrl,
      backoff: { baseMs: 100, capMs: 500 },
      updates: {
        store: new MemoryInstalledStore(),
        trustedSigningKeysPem: [t.signingPublicKey, PLATFORM_KEY.publicKeyPem],
        delayWindowSeconds: 0,
        retry: { baseMs: 50, capMs: 200 },
        ...over,
      },
    });
    devices.push(d);
    return d;
  }

  async function online(d: EmulatedDevice): Promise<EmulatedDevice> {
    const up = new Promise<void>((resolve) => d.once('online', () => resolve()));
    d.start();
    await up;
    return d;
  }

  const runs = async (d: EmulatedDevice, imageId: string): Promise<boolean> => (await d.installed()).images.some((i) => i.imageId === imageId);

  const deploy = async (key: string, groupId: string, imageIds: string[], rollout?: object): Promise<string> =>
    (
      await gqlOk<{ createDeployment: { id: string } }>(
        svc.graphqlUrl,
        key,
        `mutation($g: ID!, $i: [ID!]!, $r: RolloutPolicyInput) { createDeployment(deviceGroupId: $g, imageIds: $i, rollout: $r) { id } }`,
        { g: groupId, i: imageIds, r: rollout ?? null },
      )
    ).createDeployment.id;

  const deployment = async (id: string, key = tenant.key) =>
    (
      await gqlOk<{ deployment: { state: string; reason: string | null; progress: Progress; rollout: { wave: number; halted: boolean; reason: string | null } | null } }>(
        svc.graphqlUrl,
        key,
        `query($id: ID!) { deployment(id: $id) { state reason progress { total pending downloading installing installed failed rejected } rollout { wave halted reason } } }`,
        { id },
      )
    ).deployment;

  const deviceUpdate = async (deviceId: string, key = tenant.key) =>
    (
      await gqlOk<{ device: { updateState: string; installedImages: Array<{ imageId: string }>; targetImages: Array<{ id: string; type: string }> } }>(
        svc.graphqlUrl,
        key,
        `query($id: ID!) { device(id: $id) { updateState installedImages { imageId } targetImages { id type } } }`,
        { id: deviceId },
      )
    ).device;

  test('a deployment to a group of 10 reaches installed on every device while a subscriber watches the count climb; other groups and tenants are untouched', async () => {
    const identities = await claimedInto(tenant, 'Field Test', 10);
    const fleet = identities.map((i) => device(i));
    const [bystanderIdentity] = await claimedInto(tenant, 'Production', 1);
    const stranger = await createUpdateTenant(`Stranger ${kind}`);
    const [strangerIdentity] = await claimedInto(stranger, 'Field Test', 1);
    const bystanders = [device(bystanderIdentity!), device(strangerIdentity!, stranger)];
    const heard: UpdateTarget[] = [];
    for (const b of bystanders) b.on('update-target', (t) => heard.push(t));
    await Promise.all(bystanders.map(online));

    const app = await uploadImage(tenant.key, tenant.signingPrivateKey, { size: 64 * 1024 });
    const deploymentId = await deploy(tenant.key, tenant.groups['Field Test']!, [app.id]);
    const progress = subscribe<{ deploymentProgress: { progress: Progress } }>(
      svc.wsUrl,
      tenant.key,
      `subscription($id: ID!) { deploymentProgress(deploymentId: $id) { progress { total pending downloading installing installed failed rejected } } }`,
      { id: deploymentId },
    );
    await progress.ready;
    await Promise.all(fleet.map(online));

    await progress.waitFor((items) => items.some((i) => i.deploymentProgress.progress.installed === 10), 30_000);
    const installedCounts = progress.items.map((i) => i.deploymentProgress.progress.installed);
    expect(installedCounts).toEqual([...installedCounts].sort((a, b) => a - b));
    expect(installedCounts.at(-1)).toBe(10);
    expect(new Set(installedCounts).size).toBeGreaterThan(2);
    await progress.close();

    expect((await deployment(deploymentId)).progress).toEqual({ total: 10, pending: 0, downloading: 0, installing: 0, installed: 10, failed: 0, rejected: 0 });
    for (const d of fleet) expect(await runs(d, app.id)).toBe(true);
    expect((await deviceUpdate(fleet[0]!.deviceId)).installedImages.map((i) => i.imageId)).toContain(app.id);

    for (const b of bystanders) expect(await runs(b, app.id)).toBe(false);
    expect(heard.flatMap((t) => t.images.map((i) => i.imageId))).not.toContain(app.id);
    expect((await deviceUpdate(bystanderIdentity!.deviceId)).updateState).toBe('NONE');
    // The stranger cannot see the deployment, nor use the image.
    expect(errorCodes(await gql(svc.graphqlUrl, stranger.key, `query($id: ID!) { deployment(id: $id) { id } }`, { id: deploymentId }))).toEqual(['NOT_FOUND']);
    expect(
      errorCodes(
        await gql(svc.graphqlUrl, stranger.key, `mutation($g: ID!, $i: [ID!]!) { createDeployment(deviceGroupId: $g, imageIds: $i) { id } }`, { g: stranger.groups['Field Test'], i: [app.id] }),
      ),
    ).toEqual(['NOT_FOUND']);
    // A cap on the whole scenario above its own waits (the progress wait alone may take 30 s): 14 s at load 9.
  }, 90_000);

  test('a tampered payload and an untrusted signature are rejected by the device and never installed; a foreign signature is refused at upload', async () => {
    const [tamperedIdentity, untrustedIdentity] = await claimedInto(tenant, 'Production', 2);
    // Tampered at rest, after the service checked it: only the device's own check stands in the way.
    const tampered = await uploadImage(tenant.key, tenant.signingPrivateKey);
    const file = join(svc.dataDir, 'images', `${tampered.id}.bin`);
    const bytes = await readFile(file);
    bytes[10] = (bytes[10] ?? 0) ^ 0xff;
    await writeFile(file, bytes);
    // Signed with a key the tenant has, but the devices do not trust.
    const { createSigningKey } = await gqlOk<{ createSigningKey: { privateKey: string } }>(svc.graphqlUrl, tenant.key, `mutation { createSigningKey(name: "Rogue build server") { privateKey } }`);
    const untrusted = await uploadImage(tenant.key, createSigningKey.privateKey);

    const group = (await gqlOk<{ createDeviceGroup: { id: string } }>(svc.graphqlUrl, tenant.key, `mutation($p: ID!) { createDeviceGroup(input: { productId: $p, name: "Bad images" }) { id } }`, { p: tenant.productId }))
      .createDeviceGroup.id;
    await gqlOk(svc.graphqlUrl, tenant.key, `mutation($ids: [ID!]!, $g: ID!) { assignDevices(deviceIds: $ids, deviceGroupId: $g) { ok } }`, {
      ids: [tamperedIdentity!.deviceId, untrustedIdentity!.deviceId],
      g: group,
    });
    const deploymentId = await deploy(tenant.key, group, [tampered.id, untrusted.id]);
    const reports: Array<{ imageId: string; state: string; reason?: string }> = [];
    const fleet = [device(tamperedIdentity!), device(untrustedIdentity!)];
    for (const d of fleet) d.on('image-state', (s) => reports.push(s));
    await Promise.all(fleet.map(online));

    // Each device checks both images: the tampered one fails its hash, the other its signature.
    await until(() => reports.filter((r) => r.state === 'rejected').length === 4, 20_000, 'four rejections');
    await until(async () => (await deployment(deploymentId)).progress.rejected === 2, 10_000, 'both devices rejected');
    expect(reports.filter((r) => r.state === 'rejected')).toEqual(
      expect.arrayContaining([
        { imageId: tampered.id, state: 'rejected', reason: 'sha256 mismatch' },
        { imageId: untrusted.id, state: 'rejected', reason: 'signature' },
      ]),
    );
    expect(new Set(reports.filter((r) => r.state === 'rejected').map((r) => `${r.imageId}:${r.reason}`))).toEqual(
      new Set([`${tampered.id}:sha256 mismatch`, `${untrusted.id}:signature`]),
    );
    for (const d of fleet) {
      expect(await runs(d, tampered.id)).toBe(false);
      expect(await runs(d, untrusted.id)).toBe(false);
      expect((await deviceUpdate(d.deviceId)).updateState).toBe('REJECTED');
    }

    // An image signed with another tenant's key never gets in.
    const other = await createUpdateTenant(`Signer ${kind}`);
    const foreign = makePackage({ componentId: randomUUID(), name: 'app', version: '1', type: 'Application' }, randomBytes(100), other.signingPrivateKey);
    const refused = await gql(svc.graphqlUrl, tenant.key, `mutation($input: CreateImageInput!) { createImage(input: $input) { image { id } } }`, {
      input: { ...foreign.metadata, signature: foreign.signature },
    });
    expect(errorCodes(refused)).toEqual(['BAD_USER_INPUT']);
  });

  test('a No3rdPartyAppUpdates group gets the OS update but no application; RetailEval gets an OS release Retail does not have yet', async () => {
    const groups = await freshGroups(tenant);
    const [developmentIdentity] = await claimedInto(tenant, 'Development', 1, groups);
    const [evalIdentity] = await claimedInto(tenant, 'Field Test OS Evaluation', 1, groups);
    const [retailIdentity] = await claimedInto(tenant, 'Production', 1, groups);
    const publish = async (feed: 'Retail' | 'RetailEval', version: string) => {
      const os = await uploadImage(svc.running.adminKey, PLATFORM_KEY.privateKeyPem, { type: 'OS', version, componentId: '00000000-0000-4000-8000-0000000000f0' });
      if (feed === 'Retail') await gqlOk(svc.graphqlUrl, svc.running.adminKey, `mutation($i: ID!) { publishOsRelease(imageId: $i, feed: RetailEval) { id } }`, { i: os.id });
      await gqlOk(svc.graphqlUrl, svc.running.adminKey, `mutation($i: ID!, $f: OsFeed!) { publishOsRelease(imageId: $i, feed: $f) { id } }`, { i: os.id, f: feed });
      return os;
    };
    const retailOs = await publish('Retail', `25.${kind.length}.1`);
    await new Promise((r) => setTimeout(r, 20));
    const evalOs = await publish('RetailEval', `25.${kind.length}.2`);
    const app = await uploadImage(tenant.key, tenant.signingPrivateKey);
    await deploy(tenant.key, groups['Development']!, [app.id]);

    const development = await online(device(developmentIdentity!));
    const evaluation = await online(device(evalIdentity!));
    const retail = await online(device(retailIdentity!));
    await until(async () => (await development.installed()).osImageId === retailOs.id && (await evaluation.installed()).osImageId === evalOs.id && (await retail.installed()).osImageId === retailOs.id, 30_000, 'the OS updates');
    expect(await runs(development, app.id)).toBe(false);
    expect((await deviceUpdate(development.deviceId)).targetImages.map((i) => i.type)).toEqual(['OS']);
    expect((await evaluation.installed()).osVersion).toBe(`25.${kind.length}.2`);
    expect((await retail.installed()).osVersion).toBe(`25.${kind.length}.1`);
    // The service hears the new OS version from the device after its reboot.
    await until(async () => {
      const { device: d } = await gqlOk<{ device: { status: { osVersion: string } } }>(svc.graphqlUrl, tenant.key, `query($id: ID!) { device(id: $id) { status { osVersion } } }`, { id: evaluation.deviceId });
      return d.status.osVersion === `25.${kind.length}.2`;
    }, 15_000, 'the evaluation device to report its new OS');
  });

  test('an offline device installs on reconnect, an interrupted download resumes, and a new deployment replaces one in progress', async () => {
    const groups = await freshGroups(tenant);
    const [offlineIdentity, flakyIdentity, busyIdentity] = await claimedInto(tenant, 'Production', 3, groups);
    const group = groups['Production']!;
    const first = await uploadImage(tenant.key, tenant.signingPrivateKey, { size: 256 * 1024 });

    // Held mid-install until the second deployment exists.
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let installingNow: () => void = () => undefined;
    const installing = new Promise<void>((resolve) => (installingNow = resolve));
    const busy = device(busyIdentity!, tenant, {
      installHook: async () => {
        installingNow();
        await held;
        return 'ok';
      },
    });
    const flaky = device(flakyIdentity!, tenant, { interruptDownloadAfterBytes: 10_000 });
    const resumed: number[] = [];
    flaky.on('download-resumed', (r) => resumed.push(r.offset));
    const offline = device(offlineIdentity!);

    const firstId = await deploy(tenant.key, group, [first.id]);
    await Promise.all([online(busy), online(flaky)]);
    await installing;
    await until(() => flaky.installed().then((s) => s.images.some((i) => i.imageId === first.id)), 20_000, 'the flaky device to install');
    expect(resumed[0]).toBeGreaterThanOrEqual(10_000);

    // A new deployment while busy is installing the first: it moves on to the new target.
    const second = await uploadImage(tenant.key, tenant.signingPrivateKey, { componentId: first.componentId, version: '2.0.0' });
    const secondId = await deploy(tenant.key, group, [second.id]);
    release();
    await until(() => runs(busy, second.id), 20_000, 'the busy device to reach the new deployment');
    expect((await deployment(firstId)).state).toBe('SUPERSEDED');

    // The device that was offline all along gets the current target when it connects.
    await online(offline);
    await until(() => runs(offline, second.id), 20_000, 'the offline device to install on reconnect');
    expect(await runs(offline, first.id)).toBe(false);
    await until(async () => (await deployment(secondId)).progress.installed === 3, 20_000, 'all three on the new deployment');
  });

  test('a staged rollout over 20 devices halts at the failure threshold, leaves the rest untouched, and continues after resume', async () => {
    const groups = await freshGroups(tenant);
    const identities = await claimedInto(tenant, 'Field Test', 20, groups);
    let failures = 0;
    // The new image fails on the first three devices that try it, then works.
    const hook = async (image: TargetImage): Promise<'ok' | { fail: string }> => (image.type === 'Application' && failures++ < 3 ? { fail: 'crashed on first start' } : 'ok');
    const heard = new Map<string, boolean>();
    const fleet = identities.map((i) => {
      const d = device(i, tenant, { installHook: hook });
      d.on('update-target', (t) => {
        if (t.deploymentId !== null && t.images.some((x) => x.type === 'Application')) heard.set(d.deviceId, true);
      });
      return d;
    });
    await Promise.all(fleet.map(online));
    const app = await uploadImage(tenant.key, tenant.signingPrivateKey);
    const deploymentId = await deploy(tenant.key, groups['Field Test']!, [app.id], {
      waves: [{ count: 4 }, { percent: 50 }],
      minSample: 4,
      maxFailurePercent: 50,
    });

    await until(async () => (await deployment(deploymentId)).state === 'HALTED', 20_000, 'the rollout to halt');
    const halted = await deployment(deploymentId);
    expect(halted.rollout).toMatchObject({ wave: 0, halted: true, reason: '3 of 4 finished devices failed (75.0 %, threshold 50 %)' });
    expect(halted.progress).toMatchObject({ total: 20, installed: 1, failed: 3, pending: 16 });
    // The other sixteen never heard of the image.
    await new Promise((r) => setTimeout(r, 600));
    expect(heard.size).toBe(4);
    const untouched = fleet.filter((d) => !heard.has(d.deviceId));
    for (const d of untouched) expect(await runs(d, app.id)).toBe(false);

    const contributor = (await gqlOk<{ createApiKey: { secret: string } }>(svc.graphqlUrl, tenant.key, `mutation { createApiKey(input: { name: "ci", role: Contributor }) { secret } }`)).createApiKey.secret;
    expect(errorCodes(await gql(svc.graphqlUrl, contributor, `mutation($id: ID!) { resumeDeployment(id: $id) { state } }`, { id: deploymentId }))).toEqual(['FORBIDDEN']);
    await gqlOk(svc.graphqlUrl, tenant.key, `mutation($id: ID!) { resumeDeployment(id: $id) { state } }`, { id: deploymentId });
    await until(async () => (await deployment(deploymentId)).progress.installed === 17, 30_000, 'the rest of the rollout');
    expect(await deployment(deploymentId)).toMatchObject({ state: 'ACTIVE', progress: { total: 20, installed: 17, failed: 3, pending: 0 } });
    // Twenty devices manufactured, connected and updated: 34 s at load 9 (12 s of it manufacturing), past Jest's
    // default 30 s. Every wait above is on a condition with its own bound; this only caps the whole, above their sum.
  }, 120_000);

  test('a device that reboots mid-install and comes back with the old image is shown as it is', async () => {
    const groups = await freshGroups(tenant);
    const [identity] = await claimedInto(tenant, 'Production', 1, groups);
    const old = await uploadImage(tenant.key, tenant.signingPrivateKey);
    const next = await uploadImage(tenant.key, tenant.signingPrivateKey, { componentId: old.componentId, version: '9.0.0' });
    // The device runs the old image.
    const store = new MemoryInstalledStore();
    await store.save({ osVersion: '24.10', osImageId: null, images: [{ componentId: old.componentId, imageId: old.id }] });
    let attempts = 0;
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const d = device(identity!, tenant, {
      store,
      // The first install crashes the device; the second waits until the test has looked.
      installHook: async (image) => {
        if (image.type !== 'Application') return 'ok'; // an OS release of the feed may come first
        attempts++;
        if (attempts === 1) return 'reboot';
        await held;
        return 'ok';
      },
    });
    const rebooted = new Promise<void>((resolve) =>
      d.on('rebooting', (r) => {
        if (r.reason === 'install-crash') resolve();
      }),
    );
    const deploymentId = await deploy(tenant.key, groups['Production']!, [next.id]);
    const progress = subscribe<{ deploymentProgress: { progress: Progress } }>(
      svc.wsUrl,
      tenant.key,
      `subscription($id: ID!) { deploymentProgress(deploymentId: $id) { progress { total pending downloading installing installed failed rejected } } }`,
      { id: deploymentId },
    );
    await progress.ready;
    await online(d);
    await rebooted;
    await until(() => attempts === 2, 20_000, 'the second install attempt');

    const during = await deviceUpdate(d.deviceId);
    expect(during.installedImages.map((i) => i.imageId)).toContain(old.id);
    expect(during.installedImages.map((i) => i.imageId)).not.toContain(next.id);
    expect(during.updateState).not.toBe('INSTALLED');
    // Installing before the crash, then back to pending when the device said what it runs.
    const backToPending = (items: ReadonlyArray<{ deploymentProgress: { progress: Progress } }>): boolean => {
      const seen = items.map((i) => i.deploymentProgress.progress);
      const installingAt = seen.findIndex((p) => p.installing === 1);
      return installingAt >= 0 && seen.slice(installingAt + 1).some((p) => p.installing === 0 && p.pending === 1 && p.installed === 0);
    };
    await progress.waitFor(backToPending);
    expect(backToPending(progress.items)).toBe(true);

    release();
    await until(async () => (await deviceUpdate(d.deviceId)).updateState === 'INSTALLED', 20_000, 'the install to complete');
    const after = (await deviceUpdate(d.deviceId)).installedImages.map((i) => i.imageId);
    expect(after).toContain(next.id);
    expect(after).not.toContain(old.id);
    await progress.close();
  });

  test('the upload endpoint and the progress stream refuse strangers, readers and payloads that are not the signed ones', async () => {
    const payload = randomBytes(2048);
    const pkg = makePackage({ componentId: randomUUID(), name: 'app', version: '1.0.0', type: 'Application' }, payload, tenant.signingPrivateKey);
    const { createImage } = await gqlOk<{ createImage: { image: { id: string; uploadPath: string; status: string } } }>(
      svc.graphqlUrl,
      tenant.key,
      `mutation($input: CreateImageInput!) { createImage(input: $input) { image { id uploadPath status } } }`,
      { input: { ...pkg.metadata, signature: pkg.signature } },
    );
    expect(createImage.image.status).toBe('PENDING_UPLOAD');
    const put = (key: string | null, body: Uint8Array) =>
      fetch(`${svc.graphqlUrl.replace(/\/graphql$/, '')}${createImage.image.uploadPath}`, { method: 'PUT', headers: key ? { authorization: `Bearer ${key}` } : {}, body });
    const reader = (await gqlOk<{ createApiKey: { secret: string } }>(svc.graphqlUrl, tenant.key, `mutation { createApiKey(input: { name: "r", role: Reader }) { secret } }`)).createApiKey.secret;
    const stranger = await createUpdateTenant(`Uploader ${kind}`);

    expect((await put(null, payload)).status).toBe(401);
    expect((await put('sgk_nope', payload)).status).toBe(401);
    expect((await put(reader, payload)).status).toBe(403);
    expect((await put(stranger.key, payload)).status).toBe(404);
    const truncated = await put(tenant.key, payload.subarray(0, 100));
    expect(truncated.status).toBe(400);
    expect(((await truncated.json()) as { code: string }).code).toBe('BAD_USER_INPUT');
    expect((await put(tenant.key, payload)).status).toBe(200);
    const { image } = await gqlOk<{ image: { status: string; uploadPath: string | null } }>(svc.graphqlUrl, tenant.key, `query($id: ID!) { image(id: $id) { status uploadPath } }`, { id: createImage.image.id });
    expect(image).toEqual({ status: 'READY', uploadPath: null });
    expect(errorCodes(await gql(svc.graphqlUrl, stranger.key, `query($id: ID!) { image(id: $id) { id } }`, { id: createImage.image.id }))).toEqual(['NOT_FOUND']);

    const deploymentId = await deploy(tenant.key, (await freshGroups(tenant))['Production']!, [createImage.image.id]);
    const watched = subscribe(svc.wsUrl, stranger.key, `subscription($id: ID!) { deploymentProgress(deploymentId: $id) { state } }`, { id: deploymentId });
    await until(() => watched.error() !== null, 10_000, 'the stranger to be refused');
    expect(JSON.stringify(watched.error())).toContain('NOT_FOUND');
    expect(watched.items).toEqual([]);
    await watched.close();
  });
});
