import { randomUUID } from 'node:crypto';
import { DEVICE_STATUS_PARTS, DEVICE_VIEW_PARTS } from '../../domain/devices/device.views.js';
import { TEST_DATABASES } from '../db.js';
import { fakeCsr, randomDeviceId } from '../fakes/fake-pki.js';
import { PLATFORM, errorCodeOf, manufacture, newTenant, openDomainFixture, type DomainFixture } from './domain-fixture.js';

describe.each(TEST_DATABASES)('devices on %s', (kind) => {
  let fx: DomainFixture;
  beforeAll(async () => {
    fx = await openDomainFixture(kind);
  });
  afterAll(async () => {
    await fx.dispose();
  });

  describe('manufacturing', () => {
    test('registers each CSR and answers per input position: bad CSR and duplicate ID do not fail the batch', async () => {
      const [existing] = await manufacture(fx.services, 1);
      const fresh = randomDeviceId();
      const results = await fx.services.devices.manufactureDevices(PLATFORM, [
        fakeCsr(fresh),
        'not a csr',
        fakeCsr(existing!),
        fakeCsr(fresh),
      ]);
      expect(results[0]).toMatchObject({ ok: true, deviceId: fresh });
      expect(results[0]!.ok && results[0]!.certificatePem).toContain('BEGIN CERTIFICATE');
      expect(results[1]).toMatchObject({ ok: false, index: 1, code: 'BAD_USER_INPUT' });
      expect(results[2]).toMatchObject({ ok: false, index: 2, code: 'CONFLICT' });
      expect(results[3]).toMatchObject({ ok: false, index: 3, code: 'CONFLICT' });
    });

    test('only the platform manufactures, 1..1000 CSRs at a time', async () => {
      const t = await newTenant(fx.services);
      expect(await errorCodeOf(fx.services.devices.manufactureDevices(t.admin, [fakeCsr(randomDeviceId())]))).toBe('FORBIDDEN');
      expect(await errorCodeOf(fx.services.devices.manufactureDevices(PLATFORM, []))).toBe('BAD_USER_INPUT');
      const tooMany = Array.from({ length: 1001 }, () => 'x');
      expect(await errorCodeOf(fx.services.devices.manufactureDevices(PLATFORM, tooMany))).toBe('BAD_USER_INPUT');
    });
  });

  describe('claiming', () => {
    test('claims once: CLAIMED, then ALREADY_CLAIMED; the device shows up in the tenant unassigned', async () => {
      const t = await newTenant(fx.services);
      const [id] = await manufacture(fx.services, 1);
      expect(await fx.services.devices.claimDevices(t.admin, [id!])).toEqual([{ deviceId: id, ok: true, outcome: 'CLAIMED' }]);
      expect(await fx.services.devices.claimDevices(t.admin, [id!.toLowerCase()])).toEqual([
        { deviceId: id, ok: true, outcome: 'ALREADY_CLAIMED' },
      ]);
      const device = await fx.services.devices.getDevice(t.admin, id!);
      expect(device).toMatchObject({ id, tenantId: t.tenantId, productId: null, deviceGroupId: null, claimedAt: fx.clock.now() });
      expect(device.status).toMatchObject({ online: false, connectionSeq: 0, installedImages: [] });
    });

    test("another tenant's claimed device answers exactly like an unknown one", async () => {
      const a = await newTenant(fx.services);
      const b = await newTenant(fx.services);
      const [taken] = await manufacture(fx.services, 1);
      await fx.services.devices.claimDevices(a.admin, [taken!]);
      const unknown = randomDeviceId();
      const [forTaken, forUnknown] = await fx.services.devices.claimDevices(b.admin, [taken!, unknown]);
      expect(forTaken).toEqual({ deviceId: taken, ok: false, code: 'NOT_FOUND', message: 'Device not found or not claimable' });
      expect({ ...forUnknown, deviceId: taken }).toEqual(forTaken);
      expect(await errorCodeOf(fx.services.devices.getDevice(b.admin, taken!))).toBe('NOT_FOUND');
      expect((await fx.services.devices.getDevice(a.admin, taken!)).tenantId).toBe(a.tenantId);
    });

    test('two tenants racing for the same devices: each device goes to exactly one of them', async () => {
      const a = await newTenant(fx.services);
      const b = await newTenant(fx.services);
      const ids = await manufacture(fx.services, 20);
      const [ra, rb] = await Promise.all([
        fx.services.devices.claimDevices(a.admin, ids),
        fx.services.devices.claimDevices(b.admin, [...ids].reverse()),
      ]);
      const wonBy = (results: readonly { ok: boolean; deviceId: string }[]) => new Set(results.filter((r) => r.ok).map((r) => r.deviceId));
      const aWon = wonBy(ra);
      const bWon = wonBy(rb);
      for (const id of ids) expect(Number(aWon.has(id)) + Number(bWon.has(id))).toBe(1);
      const owners = await Promise.all(ids.map((id) => fx.services.devices.getDevice(aWon.has(id) ? a.admin : b.admin, id)));
      expect(owners.every((d) => d.tenantId === (aWon.has(d.id) ? a.tenantId : b.tenantId))).toBe(true);
    });

    test('a malformed ID is a per-device BAD_USER_INPUT; an empty or oversized list fails the call', async () => {
      const t = await newTenant(fx.services);
      const [id] = await manufacture(fx.services, 1);
      const results = await fx.services.devices.claimDevices(t.admin, ['ABC', id!]);
      expect(results[0]).toMatchObject({ deviceId: 'ABC', ok: false, code: 'BAD_USER_INPUT' });
      expect(results[1]).toMatchObject({ deviceId: id, ok: true, outcome: 'CLAIMED' });
      expect(await errorCodeOf(fx.services.devices.claimDevices(t.admin, []))).toBe('BAD_USER_INPUT');
      const tooMany = Array.from({ length: 1001 }, randomDeviceId);
      expect(await errorCodeOf(fx.services.devices.claimDevices(t.admin, tooMany))).toBe('BAD_USER_INPUT');
    });

    test('a Reader cannot claim', async () => {
      const t = await newTenant(fx.services);
      const reader = await t.actorWithRole('Reader');
      const [id] = await manufacture(fx.services, 1);
      expect(await errorCodeOf(fx.services.devices.claimDevices(reader, [id!]))).toBe('FORBIDDEN');
      const contributor = await t.actorWithRole('Contributor');
      expect(await fx.services.devices.claimDevices(contributor, [id!])).toMatchObject([{ ok: true, outcome: 'CLAIMED' }]);
    });
  });

  describe('assigning', () => {
    test("moves the caller's devices into its group; other devices are NOT_FOUND per device", async () => {
      const a = await newTenant(fx.services);
      const b = await newTenant(fx.services);
      const [mine, theirs, unclaimed] = await manufacture(fx.services, 3);
      await fx.services.devices.claimDevices(a.admin, [mine!]);
      await fx.services.devices.claimDevices(b.admin, [theirs!]);
      const product = await fx.services.products.createProduct(a.admin, { name: 'Meter' });
      const groups = await fx.services.products.listDeviceGroups(a.admin, { productId: product.id });
      const fieldTest = groups.find((g) => g.name === 'Field Test')!;

      const results = await fx.services.devices.assignDevices(a.admin, [mine!, theirs!, unclaimed!, 'bad'], fieldTest.id);
      expect(results.map((r) => (r.ok ? r.outcome : r.code))).toEqual(['ASSIGNED', 'NOT_FOUND', 'NOT_FOUND', 'BAD_USER_INPUT']);
      expect(await fx.services.devices.getDevice(a.admin, mine!)).toMatchObject({ productId: product.id, deviceGroupId: fieldTest.id });
      expect(await fx.services.devices.getDevice(b.admin, theirs!)).toMatchObject({ productId: null, deviceGroupId: null });
    });

    test("another tenant's group is NOT_FOUND for the whole call", async () => {
      const a = await newTenant(fx.services);
      const b = await newTenant(fx.services);
      const [id] = await manufacture(fx.services, 1);
      await fx.services.devices.claimDevices(b.admin, [id!]);
      const product = await fx.services.products.createProduct(a.admin, { name: 'Hub' });
      const [group] = await fx.services.products.listDeviceGroups(a.admin, { productId: product.id });
      expect(await errorCodeOf(fx.services.devices.assignDevices(b.admin, [id!], group!.id))).toBe('NOT_FOUND');
      expect(await errorCodeOf(fx.services.devices.assignDevices(b.admin, [id!], 'nope'))).toBe('BAD_USER_INPUT');
      const reader = await b.actorWithRole('Reader');
      expect(await errorCodeOf(fx.services.devices.assignDevices(reader, [id!], group!.id))).toBe('FORBIDDEN');
    });
  });

  describe('listing', () => {
    test('pages through the tenant\'s devices by ID with cursors and a filtered totalCount', async () => {
      const t = await newTenant(fx.services);
      const other = await newTenant(fx.services);
      const ids = await manufacture(fx.services, 7);
      await fx.services.devices.claimDevices(t.admin, ids);
      await fx.services.devices.claimDevices(other.admin, await manufacture(fx.services, 2));

      const first = await fx.services.devices.listDevices(t.admin, {}, { first: 3 });
      expect(first.items.map((d) => d.id)).toEqual(ids.slice(0, 3));
      expect(first).toMatchObject({ totalCount: 7, hasNextPage: true });
      const second = await fx.services.devices.listDevices(t.admin, {}, { first: 3, after: first.endCursor });
      expect(second.items.map((d) => d.id)).toEqual(ids.slice(3, 6));
      const third = await fx.services.devices.listDevices(t.admin, {}, { first: 3, after: second.endCursor });
      expect(third.items.map((d) => d.id)).toEqual(ids.slice(6));
      expect(third).toMatchObject({ totalCount: 7, hasNextPage: false });
      expect(third.endCursor).not.toBeNull();
    });

    test('filters by product, group and online state', async () => {
      const t = await newTenant(fx.services);
      const ids = await manufacture(fx.services, 5);
      await fx.services.devices.claimDevices(t.admin, ids);
      const product = await fx.services.products.createProduct(t.admin, { name: 'Filtered' });
      const groups = await fx.services.products.listDeviceGroups(t.admin, { productId: product.id });
      const [g1, g2] = groups;
      await fx.services.devices.assignDevices(t.admin, ids.slice(0, 2), g1!.id);
      await fx.services.devices.assignDevices(t.admin, ids.slice(2, 3), g2!.id);
      await fx.services.presence.connected(ids[0]!, { remoteAddress: '127.0.0.1', brokerNodeId: 'n1' });
      await fx.services.presence.connected(ids[4]!, { remoteAddress: '127.0.0.1', brokerNodeId: 'n1' });

      const list = async (filter: Parameters<typeof fx.services.devices.listDevices>[1]) => {
        const page = await fx.services.devices.listDevices(t.admin, filter, { first: 10 });
        return { ids: page.items.map((d) => d.id), total: page.totalCount };
      };
      expect(await list({ productId: product.id })).toEqual({ ids: ids.slice(0, 3), total: 3 });
      expect(await list({ deviceGroupId: g1!.id })).toEqual({ ids: ids.slice(0, 2), total: 2 });
      expect(await list({ online: true })).toEqual({ ids: [ids[0], ids[4]], total: 2 });
      expect(await list({ online: false, productId: product.id })).toEqual({ ids: ids.slice(1, 3), total: 2 });
      expect(await list({ deviceGroupId: g2!.id, online: true })).toEqual({ ids: [], total: 0 });
    });

    /** `count` claimed devices of one tenant, the first `assigned` in a product's group, device `busy` online with a status. */
    async function listedFleet(count: number, assigned: number, busy: number) {
      const t = await newTenant(fx.services);
      const ids = await manufacture(fx.services, count);
      await fx.services.devices.claimDevices(t.admin, ids);
      const product = await fx.services.products.createProduct(t.admin, { name: `Listed ${count}` });
      const [group] = await fx.services.products.listDeviceGroups(t.admin, { productId: product.id });
      await fx.services.devices.assignDevices(t.admin, ids.slice(0, assigned), group!.id);
      await fx.services.presence.connected(ids[busy]!, { remoteAddress: '127.0.0.1', brokerNodeId: 'n1' });
      await fx.services.presence.reportStatus(ids[busy]!, {
        osVersion: '24.10',
        uptimeSeconds: 7,
        installedImages: [{ componentId: randomUUID(), imageId: randomUUID(), name: 'app', version: '1' }],
      });
      return { t, ids, product, group };
    }

    test('a listed device reads exactly as the same device read alone (status, images, dates, assignment)', async () => {
      const { t, ids, product, group } = await listedFleet(2, 1, 0);

      const page = await fx.services.devices.listDevices(t.admin, {}, { first: 10 });
      const alone = await Promise.all(ids.map((id) => fx.services.devices.getDevice(t.admin, id)));
      expect(page.items).toEqual(alone);
      const [busy] = page.items;
      expect(busy!.status).toMatchObject({ online: true, connectionSeq: 1, osVersion: '24.10', uptimeSeconds: 7 });
      expect(busy!.status.installedImages).toHaveLength(1);
      expect(busy!.status.connectedSince).toBeInstanceOf(Date);
      expect(busy!.identityCertificate.notAfter).toBeInstanceOf(Date);
      expect(busy).toMatchObject({ productId: product.id, deviceGroupId: group!.id });
    });

    test('a listing asked for some parts reads each of them exactly as the full listing does, and nothing else', async () => {
      const { t, ids } = await listedFleet(3, 2, 1);

      const full = await fx.services.devices.listDevices(t.admin, {}, { first: 2 });
      for (const part of DEVICE_VIEW_PARTS) {
        const page = await fx.services.devices.listDevices(t.admin, {}, { first: 2 }, [part]);
        expect(page.items).toEqual(full.items.map((d) => ({ id: d.id, [part]: d[part] })));
        expect(page).toMatchObject({ totalCount: 3, hasNextPage: true, endCursor: full.endCursor });
      }
      for (const part of DEVICE_STATUS_PARTS) {
        const key = part.slice('status.'.length) as keyof (typeof full.items)[number]['status'];
        const page = await fx.services.devices.listDevices(t.admin, {}, { first: 2 }, [part]);
        expect(page.items).toEqual(full.items.map((d) => ({ id: d.id, status: { [key]: d.status[key] } })));
      }
      const mixed = await fx.services.devices.listDevices(t.admin, {}, { first: 2 }, ['status.online', 'status', 'revokedAt']);
      expect(mixed.items).toEqual(full.items.map((d) => ({ id: d.id, status: d.status, revokedAt: d.revokedAt })));
      // The health filter takes the other road through the database: the same parts come back.
      const healthy = await fx.services.devices.listDevices(t.admin, { certificateHealth: 'NEVER_ISSUED' }, { first: 2 }, ['status.online', 'productId']);
      expect(healthy.items).toEqual(full.items.map((d) => ({ id: d.id, status: { online: d.status.online }, productId: d.productId })));
      const onlyIds = await fx.services.devices.listDevices(t.admin, { online: true }, { first: 5 }, []);
      expect(onlyIds.items).toEqual([{ id: ids[1] }]);
      // A page after the last device is empty and still counts the tenant's devices.
      const rest = await fx.services.devices.listDevices(t.admin, {}, { first: 2, after: full.endCursor }, ['status']);
      const beyond = await fx.services.devices.listDevices(t.admin, {}, { first: 2, after: rest.endCursor }, ['status']);
      expect(beyond).toEqual({ items: [], totalCount: 3, hasNextPage: false, endCursor: null });
    });

    test('refuses a malformed cursor, page size or filter ID', async () => {
      const t = await newTenant(fx.services);
      expect(await errorCodeOf(fx.services.devices.listDevices(t.admin, {}, { after: '!!' }))).toBe('BAD_USER_INPUT');
      expect(await errorCodeOf(fx.services.devices.listDevices(t.admin, {}, { after: Buffer.from('x').toString('base64url') }))).toBe('BAD_USER_INPUT');
      expect(await errorCodeOf(fx.services.devices.listDevices(t.admin, {}, { first: 0 }))).toBe('BAD_USER_INPUT');
      expect(await errorCodeOf(fx.services.devices.listDevices(t.admin, { productId: 'x' }, {}))).toBe('BAD_USER_INPUT');
      expect(await errorCodeOf(fx.services.devices.getDevice(t.admin, 'x'))).toBe('BAD_USER_INPUT');
    });

    test('the platform and anonymous callers cannot list tenant devices', async () => {
      expect(await errorCodeOf(fx.services.devices.listDevices(PLATFORM, {}, {}))).toBe('FORBIDDEN');
      expect(await errorCodeOf(fx.services.devices.listDevices(null, {}, {}))).toBe('UNAUTHENTICATED');
    });
  });
});
