import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { makePackage } from '../../contract/image/package.js';
import type { DeploymentProgressChanged, DeviceTargetChanged } from '../../domain/events/events.js';
import type { Actor } from '../../domain/shared/actor.js';
import type { ImageView } from '../../domain/views.js';
import { Deployment } from '../../domain/deployments/deployment.entities.js';
import { rowFor } from '../../domain/deployments/device-targets.js';
import { TEST_DATABASES } from '../db.js';
import { PLATFORM, errorCodeOf, manufacture, openDomainFixture, refusalOf, uniqueName, type DomainFixture } from './domain-fixture.js';

async function* bytes(payload: Uint8Array): AsyncGenerator<Uint8Array> {
  yield payload.subarray(0, Math.floor(payload.length / 2));
  yield payload.subarray(Math.floor(payload.length / 2));
}

const newKeyPair = () => {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
};

describe.each(TEST_DATABASES)('signed images and deployments on %s', (kind) => {
  let fx: DomainFixture;
  const platformKey = newKeyPair();
  beforeAll(async () => {
    fx = await openDomainFixture(kind);
    await fx.services.images.registerSigningKey(PLATFORM, { name: uniqueName('OS key'), publicKeyPem: platformKey.publicKeyPem });
  });
  afterAll(async () => {
    await fx.dispose();
  });

  /** A tenant with its signing key, a product, and `count` devices in the product's Field Test group. */
  async function tenantWithDevices(count: number) {
    const { tenant, adminKey, signingKey } = await fx.services.tenancy.createTenant(PLATFORM, { name: uniqueName('Updates') });
    const admin = await fx.services.tenancy.authenticate(adminKey.secret);
    if (!admin) throw new Error('the first admin key did not authenticate');
    const ids = count > 0 ? await manufacture(fx.services, count) : [];
    if (ids.length > 0) await fx.services.devices.claimDevices(admin, ids);
    const product = await fx.services.products.createProduct(admin, { name: 'Updater' });
    const groups = await fx.services.products.listDeviceGroups(admin, { productId: product.id });
    const group = groups.find((g) => g.name === 'Field Test')!;
    if (ids.length > 0) await fx.services.devices.assignDevices(admin, ids, group.id);
    return { tenantId: tenant.id, admin, privateKeyPem: signingKey.privateKeyPem, ids, product, groups, group };
  }

  async function image(actor: Actor, privateKeyPem: string, over: { componentId?: string; version?: string; type?: 'Application' | 'OS' | 'BoardConfig'; payload?: Uint8Array } = {}): Promise<ImageView> {
    const pkg = makePackage(
      { componentId: over.componentId ?? randomUUID(), name: 'app', version: over.version ?? '1.0.0', type: over.type ?? 'Application' },
      over.payload ?? randomBytes(1024),
      privateKeyPem,
    );
    const { image: created } = await fx.services.images.createImage(actor, { ...pkg.metadata, signature: pkg.signature });
    return fx.services.images.uploadPayload(actor, created.id, bytes(pkg.payload));
  }

  describe('images', () => {
    test('a signed package becomes READY once its payload matches; the same content is the same image', async () => {
      const { admin, privateKeyPem } = await tenantWithDevices(0);
      const payload = randomBytes(2048);
      const componentId = randomUUID();
      const pkg = makePackage({ componentId, name: 'app', version: '2.0.0', type: 'Application' }, payload, privateKeyPem);
      const first = await fx.services.images.createImage(admin, { ...pkg.metadata, signature: pkg.signature });
      expect(first).toMatchObject({ created: true, image: { status: 'PENDING_UPLOAD', sha256: pkg.metadata.sha256, size: 2048 } });
      const ready = await fx.services.images.uploadPayload(admin, first.image.id, bytes(payload));
      expect(ready.status).toBe('READY');
      const again = await fx.services.images.createImage(admin, { ...pkg.metadata, signature: pkg.signature });
      expect(again).toMatchObject({ created: false, image: { id: first.image.id, status: 'READY' } });
      // Different content is a new image.
      const other = await image(admin, privateKeyPem, { componentId });
      expect(other.id).not.toBe(first.image.id);
    });

    test('refuses a signature by another tenant, a payload that is not the signed one, and a Reader', async () => {
      const mine = await tenantWithDevices(0);
      const theirs = await tenantWithDevices(0);
      const payload = randomBytes(512);
      const signedByStranger = makePackage({ componentId: randomUUID(), name: 'app', version: '1', type: 'Application' }, payload, theirs.privateKeyPem);
      expect(await errorCodeOf(fx.services.images.createImage(mine.admin, { ...signedByStranger.metadata, signature: signedByStranger.signature }))).toBe('BAD_USER_INPUT');

      const pkg = makePackage({ componentId: randomUUID(), name: 'app', version: '1', type: 'Application' }, payload, mine.privateKeyPem);
      const { image: pending } = await fx.services.images.createImage(mine.admin, { ...pkg.metadata, signature: pkg.signature });
      const tampered = Buffer.from(payload);
      tampered[0] = (tampered[0] ?? 0) ^ 1;
      expect(await errorCodeOf(fx.services.images.uploadPayload(mine.admin, pending.id, bytes(tampered)))).toBe('BAD_USER_INPUT');
      expect(await errorCodeOf(fx.services.images.uploadPayload(mine.admin, pending.id, bytes(Buffer.concat([payload, Buffer.from('x')]))))).toBe('BAD_USER_INPUT');
      expect((await fx.services.images.getImage(mine.admin, pending.id)).status).toBe('PENDING_UPLOAD');
      expect(await errorCodeOf(fx.services.images.uploadPayload(theirs.admin, pending.id, bytes(payload)))).toBe('NOT_FOUND');
      expect(await errorCodeOf(fx.services.images.getImage(theirs.admin, pending.id))).toBe('NOT_FOUND');

      const reader = await fx.services.tenancy.authenticate((await fx.services.tenancy.createApiKey(mine.admin, { name: 'r', role: 'Reader' })).secret);
      expect(await errorCodeOf(fx.services.images.createImage(reader, { ...pkg.metadata, signature: pkg.signature }))).toBe('FORBIDDEN');
      expect(await errorCodeOf(fx.services.images.createImage(mine.admin, { ...pkg.metadata, type: 'OS', signature: pkg.signature }))).toBe('FORBIDDEN');
    });

    test('a NUL (no database stores one) in a signature or a signing key is BAD_USER_INPUT naming the field; nothing is stored', async () => {
      const { admin, privateKeyPem } = await tenantWithDevices(0);
      const pkg = makePackage({ componentId: randomUUID(), name: 'app', version: '1', type: 'Application' }, randomBytes(64), privateKeyPem);
      // Base64 decoding skips the NUL, so the signature verifies: it must be refused for the NUL itself.
      expect(Buffer.from(`${pkg.signature}\u0000`, 'base64')).toEqual(Buffer.from(pkg.signature, 'base64'));
      const refused = refusalOf(fx.services.images.createImage(admin, { ...pkg.metadata, signature: `${pkg.signature}\u0000` }));
      expect(await refused).toEqual({ code: 'BAD_USER_INPUT', message: 'signature: must not contain NUL characters' });
      expect(await fx.services.images.listImages(admin, { componentId: pkg.metadata.componentId })).toEqual([]);

      // The PEM reader ignores what follows the key.
      const keysBefore = await fx.services.images.listSigningKeys(admin);
      expect(await refusalOf(fx.services.images.registerSigningKey(admin, { name: 'k', publicKeyPem: `${newKeyPair().publicKeyPem}\u0000` }))).toEqual({
        code: 'BAD_USER_INPUT',
        message: 'publicKeyPem: must not contain NUL characters',
      });
      expect(await refusalOf(fx.services.images.createSigningKey(admin, { name: 'k\u0000' }))).toEqual({ code: 'BAD_USER_INPUT', message: 'name: must not contain control characters' });
      expect(await fx.services.images.listSigningKeys(admin)).toEqual(keysBefore);
    });

    test('OS releases reach RetailEval before Retail', async () => {
      const os = await image(PLATFORM, platformKey.privateKeyPem, { type: 'OS', version: `25.${Date.now() % 1000}` });
      expect(await errorCodeOf(fx.services.images.publishOsRelease(PLATFORM, os.id, 'Retail'))).toBe('CONFLICT');
      await fx.services.images.publishOsRelease(PLATFORM, os.id, 'RetailEval');
      expect((await fx.services.images.publishOsRelease(PLATFORM, os.id, 'Retail')).feed).toBe('Retail');
      const { admin } = await tenantWithDevices(0);
      expect(await errorCodeOf(fx.services.images.publishOsRelease(admin, os.id, 'Retail'))).toBe('FORBIDDEN');
    });
  });

  describe('deployments', () => {
    test('a deployment targets its group only, honours the update policy, and OS comes from the feed', async () => {
      const { admin, privateKeyPem, ids, groups, group } = await tenantWithDevices(2);
      const app = await image(admin, privateKeyPem);
      const deployment = await fx.services.deployments.createDeployment(admin, { deviceGroupId: group.id, imageIds: [app.id] });
      expect(deployment.progress).toEqual({ total: 2, pending: 2, downloading: 0, installing: 0, installed: 0, failed: 0, rejected: 0 });
      const targets = await Promise.all(ids.map((id) => fx.services.deployments.targetFor(id)));
      expect(targets.map((t) => t?.images.filter((i) => i.type !== 'OS').map((i) => i.id))).toEqual([[app.id], [app.id]]);
      // The OS comes from the group's feed, before the applications: a release only on RetailEval is not Retail's.
      const evalOnly = await image(PLATFORM, platformKey.privateKeyPem, { type: 'OS', version: `26.${Date.now() % 1000}` });
      fx.clock.advance(1000); // the newest release of a feed is the one published last
      await fx.services.images.publishOsRelease(PLATFORM, evalOnly.id, 'RetailEval');
      const retail = (await fx.services.deployments.targetFor(ids[0]!))!.images;
      expect(retail.map((i) => i.id)).not.toContain(evalOnly.id);
      const evalGroup = groups.find((g) => g.osFeed === 'RetailEval')!;
      await fx.services.devices.assignDevices(admin, [ids[0]!], evalGroup.id);
      expect((await fx.services.deployments.targetFor(ids[0]!))!.images.map((i) => i.id)).toEqual([evalOnly.id]);
      await fx.services.devices.assignDevices(admin, [ids[0]!], group.id);
      const announced = fx.events.filter((e): e is DeviceTargetChanged => e.type === 'DeviceTargetChanged' && ids.includes(e.deviceId));
      expect(new Set(announced.map((e) => e.deviceId))).toEqual(new Set(ids));

      // A group that holds back third-party apps gets no application.
      const locked = groups.find((g) => g.updatePolicy === 'No3rdPartyAppUpdates' && g.name !== 'Field Test');
      const lockedGroup = locked ?? (await fx.services.products.createDeviceGroup(admin, { productId: group.productId, name: 'Locked', updatePolicy: 'No3rdPartyAppUpdates' }));
      await fx.services.devices.assignDevices(admin, [ids[1]!], lockedGroup.id);
      await fx.services.deployments.createDeployment(admin, { deviceGroupId: lockedGroup.id, imageIds: [app.id] });
      expect((await fx.services.deployments.targetFor(ids[1]!))?.images.filter((i) => i.type === 'Application')).toEqual([]);
    });

    test('halting with a NUL in the reason is BAD_USER_INPUT naming the field; the deployment stays active', async () => {
      const { admin, privateKeyPem, group } = await tenantWithDevices(1);
      const deployment = await fx.services.deployments.createDeployment(admin, { deviceGroupId: group.id, imageIds: [(await image(admin, privateKeyPem)).id] });
      expect(await refusalOf(fx.services.deployments.haltDeployment(admin, deployment.id, 'bad\u0000build'))).toEqual({
        code: 'BAD_USER_INPUT',
        message: 'reason: must not contain NUL characters',
      });
      expect((await fx.services.deployments.getDeployment(admin, deployment.id)).state).toBe('ACTIVE');
      // Tabs and newlines are text.
      expect(await fx.services.deployments.haltDeployment(admin, deployment.id, 'bad build:\n\tcrashes')).toMatchObject({ state: 'HALTED', reason: 'bad build:\n\tcrashes' });
    });

    test('images of another tenant and two images of one component are refused', async () => {
      const mine = await tenantWithDevices(0);
      const theirs = await tenantWithDevices(0);
      const foreign = await image(theirs.admin, theirs.privateKeyPem);
      expect(await errorCodeOf(fx.services.deployments.createDeployment(mine.admin, { deviceGroupId: mine.group.id, imageIds: [foreign.id] }))).toBe('NOT_FOUND');
      expect(await errorCodeOf(fx.services.deployments.createDeployment(theirs.admin, { deviceGroupId: mine.group.id, imageIds: [foreign.id] }))).toBe('NOT_FOUND');
      const componentId = randomUUID();
      const a = await image(mine.admin, mine.privateKeyPem, { componentId });
      const b = await image(mine.admin, mine.privateKeyPem, { componentId, version: '2.0.0' });
      expect(await errorCodeOf(fx.services.deployments.createDeployment(mine.admin, { deviceGroupId: mine.group.id, imageIds: [a.id, b.id] }))).toBe('BAD_USER_INPUT');
      expect(await errorCodeOf(fx.services.deployments.getDeployment(theirs.admin, randomUUID()))).toBe('NOT_FOUND');
    });

    test('device reports drive the counts; a device that comes back without the image is not installed', async () => {
      const { admin, privateKeyPem, ids, group } = await tenantWithDevices(2);
      const app = await image(admin, privateKeyPem);
      const d = await fx.services.deployments.createDeployment(admin, { deviceGroupId: group.id, imageIds: [app.id] });
      const [a, b] = ids as [string, string];
      await fx.services.deployments.reportUpdate(a, { deploymentId: d.id, imageId: app.id, state: 'DOWNLOADING', reason: null });
      await fx.services.deployments.reportUpdate(b, { deploymentId: d.id, imageId: app.id, state: 'INSTALLING', reason: null });
      expect((await fx.services.deployments.getDeployment(admin, d.id)).progress).toMatchObject({ downloading: 1, installing: 1 });

      // b restarts mid-install and reports the old image set: pending again, truthfully.
      await fx.services.presence.reportStatus(b, { osVersion: '24.10', uptimeSeconds: 1, installedImages: [] });
      await fx.services.deployments.statusReported(b);
      expect(await fx.services.deployments.deviceUpdate(admin, b)).toMatchObject({ updateState: 'PENDING' });
      // a installs and says so.
      await fx.services.presence.reportStatus(a, { osVersion: '24.10', uptimeSeconds: 1, installedImages: [{ componentId: app.componentId, imageId: app.id, name: null, version: null }] });
      await fx.services.deployments.statusReported(a);
      expect(await fx.services.deployments.deviceUpdate(admin, a)).toMatchObject({ updateState: 'INSTALLED' });
      const progress = fx.events.filter((e): e is DeploymentProgressChanged => e.type === 'DeploymentProgressChanged' && e.deploymentId === d.id).at(-1);
      expect(progress?.progress).toEqual({ total: 2, pending: 1, downloading: 0, installing: 0, installed: 1, failed: 0, rejected: 0 });

      // A stale report about a superseded deployment changes nothing.
      fx.clock.advance(1000);
      const next = await fx.services.deployments.createDeployment(admin, { deviceGroupId: group.id, imageIds: [app.id] });
      await fx.services.deployments.reportUpdate(b, { deploymentId: d.id, imageId: app.id, state: 'FAILED', reason: 'late' });
      expect((await fx.services.deployments.getDeployment(admin, d.id)).state).toBe('SUPERSEDED');
      expect((await fx.services.deployments.getDeployment(admin, next.id)).progress.failed).toBe(0);
      expect((await fx.services.deployments.listDeployments(admin, group.id)).map((x) => x.id)).toEqual([next.id, d.id]);
    });

    test('reports of many devices arriving together are each stored as its own, and the counts announced', async () => {
      const { admin, privateKeyPem, ids, group } = await tenantWithDevices(5);
      const app = await image(admin, privateKeyPem);
      const d = await fx.services.deployments.createDeployment(admin, { deviceGroupId: group.id, imageIds: [app.id] });
      const states = ['DOWNLOADING', 'DOWNLOADING', 'INSTALLING', 'FAILED', 'INSTALLED'] as const;
      // All in one I/O turn: they share a batch, alike rows stored together and the others apart.
      await Promise.all(ids.map((id, i) => fx.services.deployments.reportUpdate(id, { deploymentId: d.id, imageId: app.id, state: states[i]!, reason: states[i] === 'FAILED' ? "it's broken" : null })));
      const rows = (await fx.services.deployments.deploymentDevices(admin, d.id, null, { first: 10 })).items;
      expect(new Map(rows.map((r) => [r.deviceId, [r.state, r.reason]]))).toEqual(new Map(ids.map((id, i) => [id, [states[i], states[i] === 'FAILED' ? "it's broken" : null]])));
      const expected = { total: 5, pending: 0, downloading: 2, installing: 1, installed: 1, failed: 1, rejected: 0 };
      expect((await fx.services.deployments.getDeployment(admin, d.id)).progress).toEqual(expected);
      const announced = fx.events.filter((e): e is DeploymentProgressChanged => e.type === 'DeploymentProgressChanged' && e.deploymentId === d.id).at(-1);
      expect(announced).toMatchObject({ state: 'ACTIVE', wave: 0, deviceGroupId: group.id, progress: expected });

      // A status report without the image takes the failed device nowhere and the others back to pending, together.
      await Promise.all(ids.map((id) => fx.services.presence.reportStatus(id, { osVersion: '24.10', uptimeSeconds: 1, installedImages: [] })));
      const targets = await Promise.all(ids.map((id) => fx.services.deployments.statusReported(id)));
      expect(targets.map((t) => t.deploymentId)).toEqual(ids.map(() => d.id));
      expect((await fx.services.deployments.getDeployment(admin, d.id)).progress).toEqual({ ...expected, pending: 4, downloading: 0, installing: 0, installed: 0 });
    });

    test("a device's update and status reports arriving together are applied in the order they came", async () => {
      const { admin, privateKeyPem, ids, group } = await tenantWithDevices(2);
      const app = await image(admin, privateKeyPem);
      const d = await fx.services.deployments.createDeployment(admin, { deviceGroupId: group.id, imageIds: [app.id] });
      const [a, b] = ids as [string, string];
      await Promise.all(ids.map((id) => fx.services.presence.reportStatus(id, { osVersion: '24.10', uptimeSeconds: 1, installedImages: [] })));
      // a: installing, then a status without the image (it restarted mid-install): pending again.
      // b: a status without the image, then installing: installing.
      const [, aTarget, bTarget] = await Promise.all([
        fx.services.deployments.reportUpdate(a, { deploymentId: d.id, imageId: app.id, state: 'INSTALLING', reason: null }),
        fx.services.deployments.statusReported(a),
        fx.services.deployments.statusReported(b),
        fx.services.deployments.reportUpdate(b, { deploymentId: d.id, imageId: app.id, state: 'INSTALLING', reason: null }),
      ]);
      expect([aTarget.deploymentId, bTarget.deploymentId]).toEqual([d.id, d.id]);
      expect(await fx.services.deployments.deviceUpdate(admin, a)).toMatchObject({ updateState: 'PENDING' });
      expect(await fx.services.deployments.deviceUpdate(admin, b)).toMatchObject({ updateState: 'INSTALLING' });
      const rows = (await fx.services.deployments.deploymentDevices(admin, d.id, null, { first: 10 })).items;
      expect(rows.find((r) => r.deviceId === a)?.reason).toBe(`the device reports it does not run ${app.id}`);
    });

    test('a staged rollout admits waves, halts at the failure threshold leaving the rest untouched, and resumes', async () => {
      const { admin, privateKeyPem, ids, group } = await tenantWithDevices(20);
      const app = await image(admin, privateKeyPem);
      const d = await fx.services.deployments.createDeployment(admin, {
        deviceGroupId: group.id,
        imageIds: [app.id],
        rollout: { waves: [{ count: 5 }, { percent: 50 }], maxDevicesPerMinute: null, minSample: 5, maxFailurePercent: 40, maxCrashReports: null },
      });
      const admitted = async () => (await fx.services.deployments.deploymentDevices(admin, d.id, null, { first: 50 })).items.filter((r) => r.admitted).map((r) => r.deviceId);
      const firstWave = await admitted();
      expect(firstWave).toHaveLength(5);
      const untouched = ids.filter((id) => !firstWave.includes(id));
      expect((await fx.services.deployments.targetFor(untouched[0]!))?.images.filter((i) => i.type !== 'OS')).toEqual([]);

      // Two of the five fail: 40 % reaches the threshold.
      for (const [i, id] of firstWave.entries()) {
        await fx.services.deployments.reportUpdate(id, { deploymentId: d.id, imageId: app.id, state: i < 2 ? 'FAILED' : 'INSTALLED', reason: i < 2 ? 'boom' : null });
      }
      const halted = await fx.services.deployments.getDeployment(admin, d.id);
      expect(halted).toMatchObject({ state: 'HALTED', reason: '2 of 5 finished devices failed (40.0 %, threshold 40 %)' });
      expect(await admitted()).toHaveLength(5);
      expect((await fx.services.deployments.driveRollouts(PLATFORM, 'node-a')).ran).toBe(true);
      expect(await admitted()).toHaveLength(5);

      const contributor = await fx.services.tenancy.authenticate((await fx.services.tenancy.createApiKey(admin, { name: 'c', role: 'Contributor' })).secret);
      expect(await errorCodeOf(fx.services.deployments.resumeDeployment(contributor, d.id))).toBe('FORBIDDEN');
      const resumed = await fx.services.deployments.resumeDeployment(admin, d.id);
      expect(resumed.state).toBe('ACTIVE');
      expect(await admitted()).toHaveLength(10);
    });

    test('crash reports from the new image halt the rollout, and the issue they open is linked to the deployment', async () => {
      const { admin, privateKeyPem, ids, group } = await tenantWithDevices(4);
      const app = await image(admin, privateKeyPem);
      fx.clock.advance(1000);
      const d = await fx.services.deployments.createDeployment(admin, {
        deviceGroupId: group.id,
        imageIds: [app.id],
        rollout: { waves: [{ count: 2 }], maxDevicesPerMinute: null, minSample: 1, maxFailurePercent: null, maxCrashReports: 2 },
      });
      const admitted = (await fx.services.deployments.deploymentDevices(admin, d.id, null, { first: 10 })).items.filter((r) => r.admitted).map((r) => r.deviceId);
      expect(admitted).toHaveLength(2);
      fx.clock.advance(1000);
      for (const id of admitted) {
        await fx.services.presence.reportStatus(id, { osVersion: '24.10', uptimeSeconds: 1, installedImages: [{ componentId: app.componentId, imageId: app.id, name: null, version: null }] });
        const at = new Date(fx.clock.now().getTime() - 500);
        await fx.services.errorReports.report(id, {
          droppedTotal: null,
          events: [{ eventId: randomUUID(), category: 'AppCrash', componentId: app.componentId, imageId: app.id, exitCode: null, signal: 11, description: null, count: 1, startTime: at, endTime: at }],
        });
      }
      await fx.services.deployments.driveRollouts(PLATFORM, 'node-a');
      expect(await fx.services.deployments.getDeployment(admin, d.id)).toMatchObject({ state: 'HALTED', reason: '2 crash reports from the new images (threshold 2)' });
      const [issue] = (await fx.services.errorReports.listIssues(admin, { imageId: app.id }, 'LAST_SEEN', {})).items;
      expect(issue).toMatchObject({ deploymentId: d.id, deviceCount: 2 });
      expect(ids.filter((id) => !admitted.includes(id))).toHaveLength(2);
    });

    test('a group\'s target is held between reports, yet a new deployment, a cancellation, a new OS release and a group setting change are seen at once', async () => {
      const { admin, privateKeyPem, ids, group } = await tenantWithDevices(1);
      const device = ids[0]!;
      const appIds = async () => (await fx.services.deployments.targetFor(device))!.images.filter((i) => i.type === 'Application').map((i) => i.id);
      const osIds = async () => (await fx.services.deployments.targetFor(device))!.images.filter((i) => i.type === 'OS').map((i) => i.id);
      const first = await image(admin, privateKeyPem);
      const d1 = await fx.services.deployments.createDeployment(admin, { deviceGroupId: group.id, imageIds: [first.id] });
      expect(await appIds()).toEqual([first.id]);
      expect((await fx.services.deployments.downloadableImage(device, first.id))?.id).toBe(first.id);

      // A newer deployment supersedes it: the device's target and what it may download change with it.
      fx.clock.advance(1000);
      const second = await image(admin, privateKeyPem, { componentId: first.componentId, version: '2.0.0' });
      const d2 = await fx.services.deployments.createDeployment(admin, { deviceGroupId: group.id, imageIds: [second.id] });
      expect(await appIds()).toEqual([second.id]);
      expect(await fx.services.deployments.downloadableImage(device, first.id)).toBeNull();
      // A report about the superseded deployment changes nothing; one about the current one counts.
      await fx.services.deployments.reportUpdate(device, { deploymentId: d1.id, imageId: first.id, state: 'INSTALLING', reason: null });
      await fx.services.deployments.reportUpdate(device, { deploymentId: d2.id, imageId: second.id, state: 'DOWNLOADING', reason: null });
      expect((await fx.services.deployments.getDeployment(admin, d2.id)).progress).toMatchObject({ downloading: 1, installing: 0 });

      // Cancelled: no deployment any more, so no application.
      await fx.services.deployments.cancelDeployment(admin, d2.id);
      expect(await appIds()).toEqual([]);

      // A new OS release of the group's feed is the device's OS target at once.
      const before = await osIds();
      fx.clock.advance(1000);
      const os = await image(PLATFORM, platformKey.privateKeyPem, { type: 'OS', version: `27.${Date.now() % 1000}` });
      await fx.services.images.publishOsRelease(PLATFORM, os.id, 'RetailEval');
      expect(await osIds()).toEqual(before);
      await fx.services.images.publishOsRelease(PLATFORM, os.id, 'Retail');
      expect(await osIds()).toEqual([os.id]);

      // The group switches feed and update policy: both count at once.
      fx.clock.advance(1000);
      const third = await image(admin, privateKeyPem, { componentId: first.componentId, version: '3.0.0' });
      await fx.services.deployments.createDeployment(admin, { deviceGroupId: group.id, imageIds: [third.id] });
      expect(await appIds()).toEqual([third.id]);
      await fx.services.products.updateDeviceGroup(admin, group.id, { updatePolicy: 'No3rdPartyAppUpdates' });
      expect(await appIds()).toEqual([]);
      await fx.services.products.updateDeviceGroup(admin, group.id, { updatePolicy: 'UpdateAll' });
      expect(await appIds()).toEqual([third.id]);
      const evalOnly = await image(PLATFORM, platformKey.privateKeyPem, { type: 'OS', version: `28.${Date.now() % 1000}` });
      fx.clock.advance(1000);
      await fx.services.images.publishOsRelease(PLATFORM, evalOnly.id, 'RetailEval');
      expect(await osIds()).toEqual([os.id]);
      await fx.services.products.updateDeviceGroup(admin, group.id, { osFeed: 'RetailEval' });
      expect(await osIds()).toEqual([evalOnly.id]);
    });

    test('a deployment announced by another node (its DeploymentProgressChanged) replaces the held target here', async () => {
      const { admin, privateKeyPem, ids, group } = await tenantWithDevices(1);
      const device = ids[0]!;
      const first = await image(admin, privateKeyPem);
      await fx.services.deployments.createDeployment(admin, { deviceGroupId: group.id, imageIds: [first.id] });
      expect((await fx.services.deployments.targetFor(device))!.images.map((i) => i.id)).toContain(first.id);
      // Another node supersedes it: the rows change in the database, and the news comes over the bus.
      fx.clock.advance(1000);
      const second = await image(admin, privateKeyPem, { componentId: first.componentId, version: '2.0.0' });
      const em = fx.db.orm.em.fork();
      const old = await em.findOneOrFail(Deployment, { deviceGroup: group.id, state: 'ACTIVE' });
      old.state = 'SUPERSEDED';
      const next = em.create(Deployment, {
        id: randomUUID(),
        tenant: old.tenant,
        deviceGroup: group.id,
        imageIds: [second.id],
        state: 'ACTIVE',
        reason: null,
        rollout: null,
        baseline: null,
        wave: 0,
        createdAt: fx.clock.now(),
        endedAt: null,
      });
      await em.flush();
      expect((await fx.services.deployments.targetFor(device))!.images.map((i) => i.id)).toContain(first.id);
      await fx.bus.publish({
        type: 'DeploymentProgressChanged',
        tenantId: next.tenant,
        deploymentId: next.id,
        deviceGroupId: group.id,
        state: 'ACTIVE',
        reason: null,
        wave: 0,
        progress: { total: 0, pending: 0, downloading: 0, installing: 0, installed: 0, failed: 0, rejected: 0 },
        at: fx.clock.now().toISOString(),
      });
      expect((await fx.services.deployments.targetFor(device))!.images.map((i) => i.id)).toContain(second.id);
    });

    test('reports from many devices at once are all stored before they are acknowledged, and an unknown device is refused alone', async () => {
      const { admin, privateKeyPem, ids, group } = await tenantWithDevices(6);
      const app = await image(admin, privateKeyPem);
      const d = await fx.services.deployments.createDeployment(admin, { deviceGroupId: group.id, imageIds: [app.id] });
      const states = ['DOWNLOADING', 'INSTALLING', 'INSTALLED', 'FAILED', 'INSTALLED', 'REJECTED'] as const;
      const results = await Promise.allSettled([
        ...ids.map((id, i) => fx.services.deployments.reportUpdate(id, { deploymentId: d.id, imageId: app.id, state: states[i]!, reason: null })),
        fx.services.deployments.reportUpdate('F'.repeat(128), { deploymentId: d.id, imageId: app.id, state: 'INSTALLED', reason: null }),
      ]);
      expect(results.map((r) => r.status)).toEqual([...ids.map(() => 'fulfilled'), 'rejected']);
      expect(await errorCodeOf(Promise.reject((results.at(-1) as PromiseRejectedResult).reason))).toBe('NOT_FOUND');
      const expected = { total: 6, pending: 0, downloading: 1, installing: 1, installed: 2, failed: 1, rejected: 1 };
      expect((await fx.services.deployments.getDeployment(admin, d.id)).progress).toEqual(expected);
      const announced = fx.events.filter((e): e is DeploymentProgressChanged => e.type === 'DeploymentProgressChanged' && e.deploymentId === d.id);
      expect(announced.at(-1)?.progress).toEqual(expected);
    });

    test('the same device row made at once by several callers is one row, not an error', async () => {
      const { admin, privateKeyPem, ids, group } = await tenantWithDevices(1);
      const app = await image(admin, privateKeyPem);
      const view = await fx.services.deployments.createDeployment(admin, {
        deviceGroupId: group.id,
        imageIds: [app.id],
        rollout: { waves: [{ count: 1 }], maxDevicesPerMinute: null, minSample: 1, maxFailurePercent: null, maxCrashReports: null },
      });
      const newcomer = (await manufacture(fx.services, 1))[0]!;
      await fx.services.devices.claimDevices(admin, [newcomer]);
      await fx.services.devices.assignDevices(admin, [newcomer], group.id);
      const deployment = await fx.db.orm.em.fork().findOneOrFail(Deployment, { id: view.id });
      const rows = await Promise.all([1, 2, 3].map(() => rowFor(fx.db.orm.em.fork(), deployment, newcomer, fx.clock.now())));
      expect(new Set(rows.map((r) => r.id)).size).toBe(1);
      expect((await fx.services.deployments.getDeployment(admin, view.id)).progress.total).toBe(ids.length + 1);
    });
  });
});
