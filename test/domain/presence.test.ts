import { createHash } from 'node:crypto';
import type { DeviceStatusChanged } from '../../domain/events/events.js';
import type { DeviceView } from '../../domain/views.js';
import { TEST_DATABASES } from '../db.js';
import { fakeCsr, randomDeviceId } from '../fakes/fake-pki.js';
import { PLATFORM, errorCodeOf, manufacture, newTenant, openDomainFixture, type DomainFixture } from './domain-fixture.js';

describe.each(TEST_DATABASES)('presence on %s', (kind) => {
  let fx: DomainFixture;
  beforeAll(async () => {
    fx = await openDomainFixture(kind);
  });
  afterAll(async () => {
    await fx.dispose();
  });

  const eventsOf = (deviceId: string): Array<Pick<DeviceStatusChanged, 'online' | 'connectionSeq'>> =>
    fx.events.filter((e): e is DeviceStatusChanged => e.type === 'DeviceStatusChanged' && e.deviceId === deviceId).map((e) => ({ online: e.online, connectionSeq: e.connectionSeq }));

  /** A device claimed by a fresh tenant and assigned to its product's first group. */
  async function claimedDevice() {
    const t = await newTenant(fx.services);
    const [id] = await manufacture(fx.services, 1);
    await fx.services.devices.claimDevices(t.admin, [id!]);
    const product = await fx.services.products.createProduct(t.admin, { name: 'Presence' });
    const [group] = await fx.services.products.listDeviceGroups(t.admin, { productId: product.id });
    await fx.services.devices.assignDevices(t.admin, [id!], group!.id);
    return { t, id: id!, productId: product.id, groupId: group!.id };
  }

  describe('admission', () => {
    test('admits a registered device presenting its own certificate, with its tenant (null until claimed)', async () => {
      const [id] = await manufacture(fx.services, 1);
      const t = await newTenant(fx.services);
      const thumbprint = async () => {
        const d = await fx.services.devices.getDevice(t.admin, id!).catch(() => null);
        return d?.identityCertificate.sha256Thumbprint ?? null;
      };
      expect(await thumbprint()).toBeNull();
      await fx.services.devices.claimDevices(t.admin, [id!]);
      const sha = (await thumbprint())!;
      expect(await fx.services.presence.admit(id!, sha)).toEqual({ admitted: true, tenantId: t.tenantId });
      expect(await fx.services.presence.admit(id!, sha.toLowerCase())).toEqual({ admitted: true, tenantId: t.tenantId });
    });

    test('an unclaimed device is admitted with no tenant', async () => {
      const id = randomDeviceId();
      const [result] = await fx.services.devices.manufactureDevices(PLATFORM, [fakeCsr(id)]);
      if (!result?.ok) throw new Error('manufacturing failed');
      const sha = createHash('sha256').update(result.certificatePem).digest('hex');
      expect(await fx.services.presence.admit(id, sha)).toEqual({ admitted: true, tenantId: null });
    });

    test('refuses unknown devices and certificates other than the registered one', async () => {
      const { t, id } = await claimedDevice();
      const sha = (await fx.services.devices.getDevice(t.admin, id)).identityCertificate.sha256Thumbprint;
      expect(await fx.services.presence.admit(randomDeviceId(), sha)).toEqual({ admitted: false, reason: 'UNREGISTERED' });
      expect(await fx.services.presence.admit('garbage', sha)).toEqual({ admitted: false, reason: 'UNREGISTERED' });
      expect(await fx.services.presence.admit(id, 'AB'.repeat(32))).toEqual({ admitted: false, reason: 'CERTIFICATE_MISMATCH' });
    });

    test('refuses a revoked device', async () => {
      const { t, id } = await claimedDevice();
      const sha = (await fx.services.devices.getDevice(t.admin, id)).identityCertificate.sha256Thumbprint;
      // No revocation API yet: set the column the way the future revocation will.
      await fx.db.orm.em.fork().getConnection().execute('update device set revoked_at = ? where id = ?', [fx.clock.now(), id]);
      expect(await fx.services.presence.admit(id, sha)).toEqual({ admitted: false, reason: 'REVOKED' });
    });
  });

  describe('admission at once', () => {
    test('admissions asked together (one read) each get their own device: admitted, revoked, unknown, wrong certificate', async () => {
      const a = await claimedDevice();
      const b = await claimedDevice();
      const shaOf = async (d: { t: { admin: Parameters<typeof fx.services.devices.getDevice>[0] }; id: string }) =>
        (await fx.services.devices.getDevice(d.t.admin, d.id)).identityCertificate.sha256Thumbprint;
      const [shaA, shaB] = [await shaOf(a), await shaOf(b)];
      await fx.db.orm.em.fork().getConnection().execute('update device set revoked_at = ? where id = ?', [fx.clock.now(), b.id]);
      const answers = await Promise.all([
        fx.services.presence.admit(a.id, shaA),
        fx.services.presence.admit(b.id, shaB),
        fx.services.presence.admit(randomDeviceId(), shaA),
        fx.services.presence.admit(a.id, shaB),
        fx.services.presence.admit(a.id.toLowerCase(), shaA),
      ]);
      expect(answers).toEqual([
        { admitted: true, tenantId: a.t.tenantId },
        { admitted: false, reason: 'REVOKED' },
        { admitted: false, reason: 'UNREGISTERED' },
        { admitted: false, reason: 'CERTIFICATE_MISMATCH' },
        { admitted: true, tenantId: a.t.tenantId },
      ]);
    });
  });

  describe('connections', () => {
    test('connect then disconnect: online, then offline, each announced once after it is stored', async () => {
      const { t, id, productId, groupId } = await claimedDevice();
      // Persist first, then publish: a subscriber that reads the device as soon as it hears sees the new state.
      const readsOnEvent: Array<{ announced: boolean; read: Promise<DeviceView> }> = [];
      const off = fx.bus.subscribe((e) => {
        if (e.type === 'DeviceStatusChanged' && e.deviceId === id) readsOnEvent.push({ announced: e.online, read: fx.services.devices.getDevice(t.admin, id) });
      });
      const { connectionSeq } = await fx.services.presence.connected(id, { remoteAddress: '10.0.0.7', brokerNodeId: 'node-a' });
      expect(connectionSeq).toBe(1);
      const online = await fx.services.devices.getDevice(t.admin, id);
      expect(online.status).toMatchObject({ online: true, connectionSeq: 1, remoteAddress: '10.0.0.7', connectedSince: fx.clock.now(), lastSeenAt: fx.clock.now() });
      const event = fx.events.find((e) => 'deviceId' in e && e.deviceId === id);
      expect(event).toEqual({
        type: 'DeviceStatusChanged',
        tenantId: t.tenantId,
        deviceId: id,
        online: true,
        connectionSeq: 1,
        at: fx.clock.now().toISOString(),
        productId,
        deviceGroupId: groupId,
      });

      fx.clock.advance(60_000);
      await fx.services.presence.disconnected(id, 1);
      const offline = await fx.services.devices.getDevice(t.admin, id);
      expect(offline.status).toMatchObject({ online: false, connectionSeq: 1, connectedSince: null, lastSeenAt: fx.clock.now() });
      expect(eventsOf(id)).toEqual([
        { online: true, connectionSeq: 1 },
        { online: false, connectionSeq: 1 },
      ]);
      // A repeated disconnect is no transition: nothing more is announced.
      await fx.services.presence.disconnected(id, 1);
      expect(eventsOf(id)).toHaveLength(2);
      off();
      const observed = await Promise.all(readsOnEvent.map(async (r) => [r.announced, (await r.read).status.online]));
      expect(observed).toEqual([
        [true, true],
        [false, false],
      ]);
    });

    test('a late disconnect of an older connection does not take the newer one offline', async () => {
      const { t, id } = await claimedDevice();
      const first = await fx.services.presence.connected(id, { remoteAddress: null, brokerNodeId: 'node-a' });
      // The device reconnects (to another node) before node-a notices the old socket is gone.
      const second = await fx.services.presence.connected(id, { remoteAddress: null, brokerNodeId: 'node-b' });
      expect(second.connectionSeq).toBe(first.connectionSeq + 1);
      await fx.services.presence.disconnected(id, first.connectionSeq);
      expect((await fx.services.devices.getDevice(t.admin, id)).status).toMatchObject({ online: true, connectionSeq: second.connectionSeq });
      expect(eventsOf(id)).toEqual([
        { online: true, connectionSeq: first.connectionSeq },
        { online: true, connectionSeq: second.connectionSeq },
      ]);
      await fx.services.presence.disconnected(id, second.connectionSeq);
      expect((await fx.services.devices.getDevice(t.admin, id)).status.online).toBe(false);
    });

    test('concurrent connections of one device get distinct sequence numbers', async () => {
      const { id } = await claimedDevice();
      const seqs = await Promise.all(
        Array.from({ length: 8 }, (_, i) => fx.services.presence.connected(id, { remoteAddress: null, brokerNodeId: `n${i}` })),
      );
      expect(new Set(seqs.map((s) => s.connectionSeq)).size).toBe(8);
      expect(Math.max(...seqs.map((s) => s.connectionSeq))).toBe(8);
    });

    test('a burst of connections (written together) gives each device its own record, sequence and event', async () => {
      const devices = await Promise.all(Array.from({ length: 5 }, () => claimedDevice()));
      const unknown = randomDeviceId();
      const outcomes = await Promise.allSettled([
        ...devices.map((d, i) => fx.services.presence.connected(d.id, { remoteAddress: `10.0.1.${i % 2}`, brokerNodeId: 'burst' })),
        fx.services.presence.connected(unknown, { remoteAddress: null, brokerNodeId: 'burst' }),
        // The same device twice in one burst: two connections, two sequence numbers.
        fx.services.presence.connected(devices[0]!.id, { remoteAddress: '10.0.1.9', brokerNodeId: 'burst' }),
      ]);
      expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value.connectionSeq : 'rejected'))).toEqual([1, 1, 1, 1, 1, 'rejected', 2]);
      expect(await errorCodeOf(outcomes[5]!.status === 'rejected' ? Promise.reject(outcomes[5]!.reason) : Promise.resolve())).toBe('NOT_FOUND');
      for (const [i, d] of devices.entries()) {
        const status = (await fx.services.devices.getDevice(d.t.admin, d.id)).status;
        expect(status).toMatchObject({ online: true, connectionSeq: i === 0 ? 2 : 1, remoteAddress: i === 0 ? '10.0.1.9' : `10.0.1.${i % 2}` });
        expect(eventsOf(d.id)).toEqual(i === 0 ? [{ online: true, connectionSeq: 1 }, { online: true, connectionSeq: 2 }] : [{ online: true, connectionSeq: 1 }]);
      }
      expect(eventsOf(unknown)).toEqual([]);
    });

    test('a burst of disconnections (written together) takes offline only current connections, announcing each once', async () => {
      const devices = await Promise.all(Array.from({ length: 3 }, () => claimedDevice()));
      for (const d of devices) await fx.services.presence.connected(d.id, { remoteAddress: null, brokerNodeId: 'burst' });
      // The third reconnected before its old connection's end is processed: that disconnect is stale.
      await fx.services.presence.connected(devices[2]!.id, { remoteAddress: null, brokerNodeId: 'burst' });
      await Promise.all([
        fx.services.presence.disconnected(devices[0]!.id, 1),
        fx.services.presence.disconnected(devices[1]!.id, 1),
        fx.services.presence.disconnected(devices[2]!.id, 1),
        fx.services.presence.disconnected(randomDeviceId(), 1),
      ]);
      const online = await Promise.all(devices.map(async (d) => (await fx.services.devices.getDevice(d.t.admin, d.id)).status.online));
      expect(online).toEqual([false, false, true]);
      expect(devices.map((d) => eventsOf(d.id).filter((e) => !e.online))).toEqual([[{ online: false, connectionSeq: 1 }], [{ online: false, connectionSeq: 1 }], []]);
    });

    test('connecting an unregistered device is NOT_FOUND and announces nothing', async () => {
      const id = randomDeviceId();
      expect(await errorCodeOf(fx.services.presence.connected(id, { remoteAddress: null, brokerNodeId: 'n' }))).toBe('NOT_FOUND');
      expect(eventsOf(id)).toEqual([]);
    });

    test('an unclaimed device is announced with no tenant', async () => {
      const [id] = await manufacture(fx.services, 1);
      await fx.services.presence.connected(id!, { remoteAddress: null, brokerNodeId: 'n' });
      expect(fx.events.find((e) => 'deviceId' in e && e.deviceId === id)).toMatchObject({ tenantId: null, productId: null, deviceGroupId: null });
    });
  });

  describe('status and keep-alive', () => {
    test('one batch of keep-alives moves lastSeen of exactly those devices', async () => {
      const a = await claimedDevice();
      const b = await claimedDevice();
      const c = await claimedDevice();
      for (const d of [a, b, c]) await fx.services.presence.connected(d.id, { remoteAddress: null, brokerNodeId: 'n' });
      const connectedAt = fx.clock.now();
      fx.clock.advance(60_000);
      await fx.services.presence.touch([a.id, b.id]);
      const lastSeen = async (d: { t: { admin: Parameters<typeof fx.services.devices.getDevice>[0] }; id: string }) =>
        (await fx.services.devices.getDevice(d.t.admin, d.id)).status.lastSeenAt;
      expect([await lastSeen(a), await lastSeen(b), await lastSeen(c)]).toEqual([fx.clock.now(), fx.clock.now(), connectedAt]);
    });

    test('a status report is stored and shown to the owner; a keep-alive moves lastSeen', async () => {
      const { t, id } = await claimedDevice();
      await fx.services.presence.connected(id, { remoteAddress: null, brokerNodeId: 'n' });
      fx.clock.advance(5_000);
      const image = { componentId: '11111111-2222-3333-4444-555555555555', imageId: '66666666-7777-8888-9999-000000000000', name: 'app', version: '1.2.3' };
      await fx.services.presence.reportStatus(id, { osVersion: '24.10', uptimeSeconds: 42, installedImages: [image] });
      const reported = (await fx.services.devices.getDevice(t.admin, id)).status;
      expect(reported).toMatchObject({ osVersion: '24.10', uptimeSeconds: 42, installedImages: [image], statusReportedAt: fx.clock.now(), lastSeenAt: fx.clock.now() });

      fx.clock.advance(30_000);
      await fx.services.presence.touch([id]);
      const touched = (await fx.services.devices.getDevice(t.admin, id)).status;
      expect(touched.lastSeenAt).toEqual(fx.clock.now());
      expect(touched.statusReportedAt).toEqual(reported.statusReportedAt);
    });

    test('a report for an unknown device is NOT_FOUND', async () => {
      expect(await errorCodeOf(fx.services.presence.reportStatus(randomDeviceId(), { osVersion: '1', uptimeSeconds: 0, installedImages: [] }))).toBe('NOT_FOUND');
    });

    test('status reports arriving together are stored each as its own, and an unknown device among them is refused alone', async () => {
      const devices = [await claimedDevice(), await claimedDevice(), await claimedDevice()];
      fx.clock.advance(5_000);
      const app = { componentId: '11111111-2222-3333-4444-555555555555', imageId: '66666666-7777-8888-9999-000000000000', name: 'app', version: "1.0 'beta'" };
      const reports = [
        { osVersion: '24.10', uptimeSeconds: 7, installedImages: [app] },
        { osVersion: '24.10', uptimeSeconds: 9, installedImages: [app] },
        { osVersion: '25.01', uptimeSeconds: 11, installedImages: [] },
      ];
      // All in one I/O turn: they share a batch (two alike, one different), with a device that does not exist.
      const stored = devices.map((d, i) => fx.services.presence.reportStatus(d.id, reports[i]!));
      const unknown = errorCodeOf(fx.services.presence.reportStatus(randomDeviceId(), { osVersion: '24.10', uptimeSeconds: 1, installedImages: [] }));
      await Promise.all(stored);
      expect(await unknown).toBe('NOT_FOUND');
      for (const [i, d] of devices.entries()) {
        const { status } = await fx.services.devices.getDevice(d.t.admin, d.id);
        expect(status).toMatchObject({ ...reports[i], statusReportedAt: fx.clock.now(), lastSeenAt: fx.clock.now() });
      }
    });
  });

  describe('broker node restart', () => {
    test("resetNode takes only that node's devices offline, announcing each, and returns the count", async () => {
      const node = `node-${randomDeviceId().slice(0, 8)}`;
      const ids = await manufacture(fx.services, 3);
      const { t, id: elsewhere } = await claimedDevice();
      for (const id of ids) await fx.services.presence.connected(id, { remoteAddress: null, brokerNodeId: node });
      await fx.services.presence.connected(elsewhere, { remoteAddress: null, brokerNodeId: `${node}-other` });
      await fx.services.presence.disconnected(ids[2]!, 1);

      expect(await fx.services.presence.resetNode(node)).toBe(2);
      for (const id of ids) expect(eventsOf(id).at(-1)).toEqual({ online: false, connectionSeq: 1 });
      expect(eventsOf(ids[2]!)).toHaveLength(2);
      expect(eventsOf(elsewhere)).toEqual([{ online: true, connectionSeq: 1 }]);
      expect((await fx.services.devices.getDevice(t.admin, elsewhere)).status.online).toBe(true);
      expect(await fx.services.presence.resetNode(node)).toBe(0);
    });
  });
});
