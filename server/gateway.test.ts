/**
 * The gateway over real HTTP and WebSocket sockets, in front of the real domain on a fresh SQLite database (the
 * PKI is the fake one: certificates are not the subject here). Devices are manufactured, claimed and brought
 * "online" through the domain's own services, so status events come from where they come in production.
 */
import { DEFAULT_CERTIFICATE_POLICY } from '../domain/shared/service-deps.js';
import { createServices } from '../domain/create-services.js';
import type { Services } from '../domain/services.js';
import { systemClock } from '../domain/shared/clock.js';
import { MemoryEventBus } from '../infra/events/memory-event-bus.js';
import { openTestDatabase, type TestDatabase } from '../test/db.js';
import { fakeCsr, FakePki, randomDeviceId } from '../test/fakes/fake-pki.js';
import { startGateway, type Gateway } from './index.js';
import { codes, connectionOutcome, gql, ok, subscribe, until } from './test-support/gateway-client.js';
import { countingBus, recordingLogger } from './test-support/recording.js';

const ADMIN_KEY = 'platform-admin-key-for-gateway-tests-0123456789';

const CREATE_TENANT = `mutation($name: String!) { createTenant(input: { name: $name }) { tenant { id name createdAt } adminKey { secret apiKey { id role } } } }`;
const CREATE_PRODUCT = `mutation($name: String!) { createProduct(input: { name: $name }) { id name deviceGroups { id name osFeed updatePolicy product { id } } } }`;
const STATUS_SUB = `subscription($f: DeviceStatusFilter) { deviceStatusChanged(filter: $f) { deviceId online connectionSeq at device { id product { id } } } }`;

interface TenantFixture {
  readonly id: string;
  readonly key: string;
  readonly productId: string;
  readonly groupId: string;
  readonly deviceId: string;
}

describe('GraphQL gateway over HTTP and WebSocket', () => {
  let db: TestDatabase;
  let bus: ReturnType<typeof countingBus>;
  /** Bus handlers the domain itself holds (e.g. the deployments' held group targets), not the gateway's. */
  let domainHandlers = 0;
  let services: Services;
  let gateway: Gateway;
  const log = recordingLogger();
  let a: TenantFixture;
  let b: TenantFixture;

  async function tenant(name: string): Promise<TenantFixture> {
    const t = await ok<{ createTenant: { tenant: { id: string }; adminKey: { secret: string } } }>(gateway, ADMIN_KEY, CREATE_TENANT, { name });
    const key = t.createTenant.adminKey.secret;
    const p = await ok<{ createProduct: { id: string; deviceGroups: Array<{ id: string; name: string }> } }>(gateway, key, CREATE_PRODUCT, { name: 'Sensor' });
    const group = p.createProduct.deviceGroups.find((g) => g.name === 'Field Test');
    if (!group) throw new Error('no Field Test group');
    const deviceId = randomDeviceId();
    await ok(gateway, ADMIN_KEY, `mutation($c: [String!]!) { manufactureDevices(csrs: $c) { ok } }`, { c: [fakeCsr(deviceId)] });
    await ok(gateway, key, `mutation($ids: [ID!]!) { claimDevices(deviceIds: $ids) { ok } }`, { ids: [deviceId] });
    await ok(gateway, key, `mutation($ids: [ID!]!, $g: ID!) { assignDevices(deviceIds: $ids, deviceGroupId: $g) { ok } }`, { ids: [deviceId], g: group.id });
    return { id: t.createTenant.tenant.id, key, productId: p.createProduct.id, groupId: group.id, deviceId };
  }

  async function apiKey(owner: TenantFixture, role: 'Reader' | 'Contributor' | 'Administrator'): Promise<{ id: string; secret: string }> {
    const r = await ok<{ createApiKey: { secret: string; apiKey: { id: string } } }>(
      gateway,
      owner.key,
      `mutation($r: Role!) { createApiKey(input: { name: "k", role: $r }) { secret apiKey { id } } }`,
      { r: role },
    );
    return { id: r.createApiKey.apiKey.id, secret: r.createApiKey.secret };
  }

  let seq = 0;
  /** The device connects at the (emulated) broker: the domain records it and announces it on the bus. */
  const bringOnline = (deviceId: string): Promise<unknown> => services.presence.connected(deviceId, { remoteAddress: '127.0.0.1', brokerNodeId: `n${++seq}` });

  beforeAll(async () => {
    db = await openTestDatabase('sqlite');
    bus = countingBus(new MemoryEventBus());
    services = createServices({
      em: db.orm.em,
      bus,
      clock: systemClock,
      pki: new FakePki(),
      log: recordingLogger(),
      platformAdminKey: ADMIN_KEY,
      certificates: DEFAULT_CERTIFICATE_POLICY,
    });
    domainHandlers = bus.handlers;
    gateway = await startGateway({ services, bus, log, port: 0, subscriptions: { credentialRecheckMs: 0 } });
    a = await tenant('Tenant A');
    b = await tenant('Tenant B');
  });

  afterAll(async () => {
    await gateway?.close();
    await bus?.close();
    await db?.dispose();
  });

  describe('plain HTTP routes', () => {
    test('GET /healthz answers 200 {"status":"ok"} without a key', async () => {
      const res = await fetch(`${gateway.url}/healthz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ok' });
    });

    test('GET /graphql runs queries when the CSRF preflight header is present, and refuses without it', async () => {
      const url = `${gateway.url}/graphql?query=${encodeURIComponent('{ health }')}`;
      const allowed = await fetch(url, { headers: { 'apollo-require-preflight': 'true' } });
      expect([allowed.status, await allowed.json()]).toEqual([200, { data: { health: 'ok' } }]);
      expect((await fetch(url)).status).toBe(400);
    });

    test('an oversized or malformed body is refused before GraphQL sees it', async () => {
      const post = (body: string): Promise<Response> =>
        fetch(`${gateway.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect((await post('{"query": ')).status).toBe(400);
      expect((await post(JSON.stringify({ query: `{ health } #${'x'.repeat(5 * 1024 * 1024)}` }))).status).toBe(413);
    });

    test('an unknown path is 404 and a wrong method 405', async () => {
      expect((await fetch(`${gateway.url}/nope`)).status).toBe(404);
      const res = await fetch(`${gateway.url}/healthz`, { method: 'DELETE' });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('GET, HEAD');
    });
  });

  describe('the story over HTTP', () => {
    test('platform creates a tenant; its admin creates a product that comes with the five default groups', async () => {
      const t = await ok<{ createTenant: { tenant: { name: string; createdAt: string }; adminKey: { secret: string; apiKey: { role: string } } } }>(
        gateway,
        ADMIN_KEY,
        CREATE_TENANT,
        { name: 'Contoso' },
      );
      expect(t.createTenant.tenant.name).toBe('Contoso');
      expect(t.createTenant.tenant.createdAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      expect(t.createTenant.adminKey.apiKey.role).toBe('Administrator');
      const key = t.createTenant.adminKey.secret;

      const p = await ok<{ createProduct: { id: string; name: string; deviceGroups: Array<{ name: string; osFeed: string; updatePolicy: string; product: { id: string } }> } }>(
        gateway,
        key,
        CREATE_PRODUCT,
        { name: 'Thermostat' },
      );
      const groups = Object.fromEntries(p.createProduct.deviceGroups.map((g) => [g.name, [g.osFeed, g.updatePolicy]]));
      expect(groups).toEqual({
        Development: ['Retail', 'No3rdPartyAppUpdates'],
        'Field Test': ['Retail', 'UpdateAll'],
        Production: ['Retail', 'UpdateAll'],
        'Field Test OS Evaluation': ['RetailEval', 'UpdateAll'],
        'Production OS Evaluation': ['RetailEval', 'UpdateAll'],
      });
      expect(p.createProduct.deviceGroups.every((g) => g.product.id === p.createProduct.id)).toBe(true);

      const listed = await ok<{ tenant: { name: string; caCertificate: string }; products: Array<{ name: string }> }>(
        gateway,
        key,
        '{ tenant { name caCertificate } products { name } }',
      );
      expect(listed.tenant.name).toBe('Contoso');
      expect(listed.tenant.caCertificate).toContain('BEGIN CERTIFICATE');
      expect(listed.products.map((x) => x.name)).toEqual(['Thermostat']);
    });

    test('a claimed device is listed as a page with its product and group resolved', async () => {
      const r = await ok<{ devices: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string }; edges: Array<{ cursor: string; node: { id: string; product: { id: string }; deviceGroup: { id: string }; status: { online: boolean; lastSeen: string | null } } }> } }>(
        gateway,
        a.key,
        '{ devices(first: 10) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id product { id } deviceGroup { id } status { online lastSeen } } } } }',
      );
      expect(r.devices.totalCount).toBe(1);
      expect(r.devices.pageInfo).toEqual({ hasNextPage: false, endCursor: r.devices.edges[0]?.cursor });
      expect(r.devices.edges[0]?.node).toMatchObject({ id: a.deviceId, product: { id: a.productId }, deviceGroup: { id: a.groupId } });
    });
  });

  describe('authentication', () => {
    test('without a key only health works; anything else is UNAUTHENTICATED (401)', async () => {
      expect(await ok(gateway, null, '{ health }')).toEqual({ health: 'ok' });
      for (const query of ['{ tenant { id } }', '{ health products { id } }', 'mutation { createTenant(input: { name: "x" }) { tenant { id } } }', '{ __schema { types { name } } }']) {
        const r = await gql(gateway, null, query);
        expect([r.status, codes(r)]).toEqual([401, ['UNAUTHENTICATED']]);
        expect(r.data ?? null).toBeNull();
      }
    });

    test('a bad, malformed or revoked key is UNAUTHENTICATED, even for health', async () => {
      const revoked = await apiKey(a, 'Reader');
      await ok(gateway, a.key, 'mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }', { id: revoked.id });
      for (const key of ['sgk_unknown', revoked.secret]) {
        const r = await gql(gateway, key, '{ health }');
        expect([r.status, codes(r), r.errors?.[0]?.message]).toEqual([401, ['UNAUTHENTICATED'], 'Invalid or revoked API key']);
        expect(r.headers.get('www-authenticate')).toBe('Bearer');
      }
      const basic = await fetch(`${gateway.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Basic dXNlcjpwYXNz' },
        body: JSON.stringify({ query: '{ health }' }),
      });
      expect(basic.status).toBe(401);
    });

    test('keys are never written to the log', async () => {
      const reader = await apiKey(a, 'Reader');
      await gql(gateway, reader.secret, '{ tenant { id } }');
      await gql(gateway, `${reader.secret}x`, '{ tenant { id } }');
      const text = JSON.stringify(log.entries);
      expect(text).not.toContain(reader.secret);
      expect(text).not.toContain(a.key);
      expect(text).not.toContain(ADMIN_KEY);
    });

    test('WebSocket: a good key (authorization or apiKey) is acknowledged; none, unknown or revoked is closed 4403', async () => {
      expect(await connectionOutcome(gateway, { authorization: `Bearer ${a.key}` })).toEqual({ acked: true, closeCode: 1000 });
      expect(await connectionOutcome(gateway, { apiKey: a.key })).toEqual({ acked: true, closeCode: 1000 });
      const revoked = await apiKey(a, 'Reader');
      await ok(gateway, a.key, 'mutation($id: ID!) { revokeApiKey(id: $id) { id } }', { id: revoked.id });
      for (const payload of [undefined, { authorization: 'Bearer sgk_unknown' }, { apiKey: revoked.secret }, { authorization: 'Basic x' }]) {
        expect(await connectionOutcome(gateway, payload)).toEqual({ acked: false, closeCode: 4403 });
      }
    });
  });

  describe('authorisation and tenant isolation (decided by the domain)', () => {
    test('a Reader may read but not createProduct: FORBIDDEN', async () => {
      const reader = await apiKey(a, 'Reader');
      expect((await ok<{ products: unknown[] }>(gateway, reader.secret, '{ products { id } }')).products).toHaveLength(1);
      const r = await gql(gateway, reader.secret, 'mutation { createProduct(input: { name: "Nope" }) { id } }');
      expect(codes(r)).toEqual(['FORBIDDEN']);
      expect(r.status).toBe(200);
    });

    test("tenant B cannot read tenant A's product, group or device: NOT_FOUND, like something that does not exist", async () => {
      const product = await gql(gateway, b.key, 'query($id: ID!) { product(id: $id) { id name } }', { id: a.productId });
      expect(codes(product)).toEqual(['NOT_FOUND']);
      expect(product.data).toEqual({ product: null });
      expect(codes(await gql(gateway, b.key, 'query($id: ID!) { deviceGroup(id: $id) { id } }', { id: a.groupId }))).toEqual(['NOT_FOUND']);
      const theirs = await gql(gateway, b.key, 'query($id: ID!) { device(id: $id) { id } }', { id: a.deviceId });
      const nobodys = await gql(gateway, b.key, 'query($id: ID!) { device(id: $id) { id } }', { id: randomDeviceId() });
      expect(codes(theirs)).toEqual(['NOT_FOUND']);
      expect(theirs.errors?.[0]?.message).toBe(nobodys.errors?.[0]?.message);
    });

    test('the platform key is not a tenant: it cannot list products (FORBIDDEN)', async () => {
      expect(codes(await gql(gateway, ADMIN_KEY, '{ products { id } }'))).toEqual(['FORBIDDEN']);
    });
  });

  describe('subscriptions', () => {
    test("deviceStatusChanged: a tenant sees its own device come online (with the device resolved); another tenant sees nothing", async () => {
      type Event = { deviceStatusChanged: { deviceId: string; online: boolean; connectionSeq: number; at: string; device: { id: string; product: { id: string } } | null } };
      const seenByA = await subscribe<Event>(gateway, { authorization: `Bearer ${a.key}` }, STATUS_SUB);
      const seenByB = await subscribe<Event>(gateway, { apiKey: b.key }, STATUS_SUB);
      try {
        await bringOnline(a.deviceId);
        await seenByA.waitFor(() => seenByA.items.length === 1, "A's event");
        const event = seenByA.items[0]?.deviceStatusChanged;
        expect(event).toMatchObject({ deviceId: a.deviceId, online: true, device: { id: a.deviceId, product: { id: a.productId } } });
        expect(event?.at).toMatch(/Z$/);
        await new Promise((r) => setTimeout(r, 100));
        expect(seenByB.items).toEqual([]);
        expect(seenByB.errors).toEqual([]);
      } finally {
        await seenByA.close();
        await seenByB.close();
      }
    });

    test('the filter narrows to the given devices, product or group', async () => {
      type Event = { deviceStatusChanged: { deviceId: string } };
      const other = randomDeviceId();
      const byOtherId = await subscribe<Event>(gateway, { apiKey: a.key }, STATUS_SUB, { f: { deviceIds: [other] } });
      const byOtherProduct = await subscribe<Event>(gateway, { apiKey: a.key }, STATUS_SUB, { f: { productId: b.productId } });
      const byGroup = await subscribe<Event>(gateway, { apiKey: a.key }, STATUS_SUB, { f: { deviceGroupId: a.groupId } });
      const byAll = await subscribe<Event>(gateway, { apiKey: a.key }, STATUS_SUB, { f: { deviceIds: [a.deviceId], productId: a.productId, deviceGroupId: a.groupId } });
      try {
        await bringOnline(a.deviceId);
        await byGroup.waitFor(() => byGroup.items.length === 1, 'the group filter');
        await byAll.waitFor(() => byAll.items.length === 1, 'the combined filter');
        await new Promise((r) => setTimeout(r, 100));
        expect(byOtherId.items).toEqual([]);
        expect(byOtherProduct.items).toEqual([]);
      } finally {
        await Promise.all([byOtherId.close(), byOtherProduct.close(), byGroup.close(), byAll.close()]);
      }
    });

    test('a client that completes its subscription releases its bus handler', async () => {
      // Earlier tests' subscriptions end asynchronously: start from the domain's own handlers alone.
      await until(() => bus.handlers === domainHandlers, "earlier tests' handlers to go");
      const sub = await subscribe<unknown>(gateway, { apiKey: a.key }, STATUS_SUB);
      expect(bus.handlers).toBe(domainHandlers + 1);
      await sub.close();
      await until(() => bus.handlers === domainHandlers, 'the handler to go');
    });

    test('a key revoked while subscribed: the next event ends the subscription with UNAUTHENTICATED and the socket with 4403', async () => {
      const key = await apiKey(a, 'Reader');
      const sub = await subscribe<unknown>(gateway, { apiKey: key.secret }, STATUS_SUB);
      try {
        await ok(gateway, a.key, 'mutation($id: ID!) { revokeApiKey(id: $id) { id } }', { id: key.id });
        await bringOnline(a.deviceId);
        await until(() => sub.errors.length > 0, 'the subscription error');
        expect(sub.items).toEqual([]);
        expect(JSON.stringify(sub.errors)).toContain('UNAUTHENTICATED');
        await until(() => sub.closeCodes.length > 0, 'the socket to close');
        expect(sub.closeCodes).toEqual([4403]);
      } finally {
        await sub.close();
      }
    });

    test('subscribers of one event share its execution per key: one device read per key, every socket served, strangers none', async () => {
      type Event = { deviceStatusChanged: { deviceId: string; device: { id: string } | null } };
      const reader = await apiKey(a, 'Reader');
      // Counts the device reads the subscription's `device` field makes.
      const getDevice = services.devices.getDevice;
      const readers: Array<string | null> = [];
      services.devices.getDevice = (actor, id) => {
        readers.push(actor?.kind === 'user' ? actor.role : null);
        return getDevice(actor, id);
      };
      const sameKey = await Promise.all([1, 2, 3].map(() => subscribe<Event>(gateway, { apiKey: a.key }, STATUS_SUB)));
      const otherKey = await subscribe<Event>(gateway, { apiKey: reader.secret }, STATUS_SUB);
      const stranger = await subscribe<Event>(gateway, { apiKey: b.key }, STATUS_SUB);
      const all = [...sameKey, otherKey];
      try {
        readers.length = 0;
        await bringOnline(a.deviceId);
        for (const sub of all) await sub.waitFor(() => sub.items.length === 1, 'the event on every socket');
        for (const sub of all) expect(sub.items[0]?.deviceStatusChanged).toMatchObject({ deviceId: a.deviceId, device: { id: a.deviceId } });
        // Executed once for the three sockets with the admin key and once for the Reader key: never one actor's
        // result for another.
        expect(readers.sort()).toEqual(['Administrator', 'Reader']);
        await new Promise((r) => setTimeout(r, 100));
        expect(stranger.items).toEqual([]);
      } finally {
        services.devices.getDevice = getDevice;
        await Promise.all([...all, stranger].map((sub) => sub.close()));
      }
    });

    test('a revoked key shared by several sockets ends the subscription on every one of them', async () => {
      const key = await apiKey(a, 'Reader');
      const subs = await Promise.all([1, 2].map(() => subscribe<unknown>(gateway, { apiKey: key.secret }, STATUS_SUB)));
      try {
        await ok(gateway, a.key, 'mutation($id: ID!) { revokeApiKey(id: $id) { id } }', { id: key.id });
        await bringOnline(a.deviceId);
        for (const sub of subs) {
          await until(() => sub.closeCodes.length > 0, 'every socket to close');
          expect(sub.items).toEqual([]);
          expect(JSON.stringify(sub.errors)).toContain('UNAUTHENTICATED');
          expect(sub.closeCodes).toEqual([4403]);
        }
      } finally {
        await Promise.all(subs.map((sub) => sub.close()));
      }
    });

    test('a subscription sent over HTTP is refused with a pointer to WebSocket (BAD_REQUEST, 400)', async () => {
      const r = await gql(gateway, a.key, STATUS_SUB);
      expect([r.status, codes(r)]).toEqual([400, ['BAD_REQUEST']]);
      expect(r.errors?.[0]?.message).toContain('WebSocket');
    });

    test('a subscription the domain refuses (the platform key is not a tenant) errors with FORBIDDEN', async () => {
      const sub = await subscribe<unknown>(gateway, { apiKey: ADMIN_KEY }, STATUS_SUB);
      try {
        await until(() => sub.errors.length > 0, 'the refusal');
        expect(JSON.stringify(sub.errors)).toContain('FORBIDDEN');
      } finally {
        await sub.close();
      }
    });
  });

  describe('errors and limits', () => {
    test('an unknown error is masked: generic message, no stack, logged with the request id', async () => {
      const broken: Services = {
        ...services,
        products: {
          ...services.products,
          listProducts: async () => {
            throw new Error('connect ECONNREFUSED db.internal:5432');
          },
        },
      };
      const brokenLog = recordingLogger();
      const other = await startGateway({ services: broken, bus, log: brokenLog, port: 0 });
      try {
        const r = await gql(other, a.key, '{ products { id } }');
        expect(r.errors).toEqual([{ message: 'Internal server error', path: ['products'], locations: [{ line: 1, column: 3 }], extensions: { code: 'INTERNAL_SERVER_ERROR' } }]);
        expect(JSON.stringify(r)).not.toMatch(/ECONNREFUSED|stack|at /);
        const requestId = r.headers.get('x-request-id');
        expect(requestId).toBeTruthy();
        const logged = brokenLog.entries.find((e) => e.level === 'error' && JSON.stringify(e.fields).includes('ECONNREFUSED'));
        expect(logged?.fields['requestId']).toBe(requestId);
      } finally {
        await other.close();
      }
    });

    test('a query nested too deep is refused before it runs (GRAPHQL_VALIDATION_FAILED, 400)', async () => {
      // products › deviceGroups › product › … : 11 levels
      let selection = 'id';
      for (let level = 10; level >= 2; level--) selection = `${level % 2 === 0 ? 'deviceGroups' : 'product'} { ${selection} }`;
      const r = await gql(gateway, a.key, `{ products { ${selection} } }`);
      expect(r.status).toBe(400);
      expect(new Set(codes(r))).toEqual(new Set(['GRAPHQL_VALIDATION_FAILED']));
      // (Nested lists this deep are over the cost limit as well; both are reported.)
      expect(r.errors?.map((e) => e.message)).toContain('The operation is nested 11 levels deep; the limit is 10.');
    });

    test('a query that may return too many objects is refused before it runs', async () => {
      const wide = `{ ${Array.from({ length: 30 }, (_, i) => `d${i}: devices(first: 500) { edges { node { id } } }`).join(' ')} }`;
      const r = await gql(gateway, a.key, wide);
      expect(codes(r)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
      expect(r.errors?.[0]?.message).toMatch(/may return about \d+ objects; the limit is 10000/);
    });

    test('a document with too many tokens is not even parsed (GRAPHQL_PARSE_FAILED)', async () => {
      const r = await gql(gateway, a.key, `{ ${Array.from({ length: 6000 }, (_, i) => `h${i}: health`).join(' ')} }`);
      expect([r.status, codes(r)]).toEqual([400, ['GRAPHQL_PARSE_FAILED']]);
      expect(r.errors?.[0]?.message).toMatch(/more tha[nt] 10000 tokens/);
    });

    test('the limits apply over WebSocket too', async () => {
      const deep = 'subscription { deviceStatusChanged { device { product { deviceGroups { product { deviceGroups { product { deviceGroups { product { deviceGroups { id } } } } } } } } } } }';
      const sub = await subscribe<unknown>(gateway, { apiKey: a.key }, deep);
      try {
        await until(() => sub.errors.length > 0, 'the refusal');
        expect(JSON.stringify(sub.errors)).toContain('GRAPHQL_VALIDATION_FAILED');
        expect(JSON.stringify(sub.errors)).toContain('the limit is 10');
      } finally {
        await sub.close();
      }
    });

    test('no "Did you mean" for callers without a key; callers with one get the hint', async () => {
      const anonymous = await gql(gateway, null, '{ helth }');
      expect(codes(anonymous)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
      expect(anonymous.errors?.[0]?.message).toBe('Cannot query field "helth" on type "Query".');
      const known = await gql(gateway, a.key, '{ helth }');
      expect(known.errors?.[0]?.message).toContain('Did you mean "health"?');
    });

    test('a domain input refusal keeps its code and names the field', async () => {
      const r = await gql(gateway, a.key, 'mutation { createProduct(input: { name: "" }) { id } }');
      expect(codes(r)).toEqual(['BAD_USER_INPUT']);
      expect(r.errors?.[0]?.extensions?.['details']).toEqual({ field: 'name' });
    });

    test('a variable that does not coerce is BAD_USER_INPUT', async () => {
      const r = await gql(gateway, a.key, 'mutation($r: Role!) { createApiKey(input: { name: "x", role: $r }) { secret } }', { r: 'Owner' });
      expect(codes(r)).toEqual(['BAD_USER_INPUT']);
    });
  });

  describe('introspection', () => {
    test('allowed with a key, refused without one, and off for everyone when disabled', async () => {
      const withKey = await ok<{ __schema: { queryType: { name: string } } }>(gateway, a.key, '{ __schema { queryType { name } } }');
      expect(withKey.__schema.queryType.name).toBe('Query');
      expect(codes(await gql(gateway, null, '{ __type(name: "Device") { name } }'))).toEqual(['UNAUTHENTICATED']);

      const closed = await startGateway({ services, bus, log: recordingLogger(), port: 0, introspection: false });
      try {
        expect(codes(await gql(closed, a.key, '{ __schema { queryType { name } } }'))).toEqual(['GRAPHQL_VALIDATION_FAILED']);
      } finally {
        await closed.close();
      }
    });
  });

  describe('shutdown', () => {
    test('close() ends WebSocket clients with 1001, ends their bus subscriptions and stops listening', async () => {
      const own = await startGateway({ services, bus, log: recordingLogger(), port: 0 });
      await until(() => bus.handlers === domainHandlers, "earlier tests' handlers to go");
      const sub = await subscribe<unknown>(own, { apiKey: a.key }, STATUS_SUB);
      try {
        expect(bus.handlers).toBe(domainHandlers + 1);
        await own.close();
        await until(() => sub.closeCodes.length > 0, 'the close frame');
        expect(sub.closeCodes).toEqual([1001]);
        expect(bus.handlers).toBe(domainHandlers);
        await expect(fetch(`${own.url}/healthz`)).rejects.toThrow();
        expect(own.httpServer.listening).toBe(false);
      } finally {
        await sub.close();
      }
    });
  });
});
