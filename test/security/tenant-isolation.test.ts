/**
 * Tenants never see each other: tenant B reading, claiming, assigning or subscribing to tenant A's devices is
 * refused, and the refusal looks exactly like a device that does not exist.
 */
import { EmulatedDevice, manufacture } from '../../device-agent/index.js';
import { errorCodes, gql, gqlOk, startTestService, subscribe, type TestService } from '../harness.js';

type Tenant = { key: string; productId: string; groupId: string };
type ClaimResult = { deviceId: string; ok: boolean; outcome: string | null; errorCode: string | null; errorMessage: string | null };

const CLAIM = `mutation($ids: [ID!]!) { claimDevices(deviceIds: $ids) { deviceId ok outcome errorCode errorMessage } }`;
const ASSIGN = `mutation($ids: [ID!]!, $g: ID!) { assignDevices(deviceIds: $ids, deviceGroupId: $g) { deviceId ok outcome errorCode errorMessage } }`;
const SUB = `subscription { deviceStatusChanged { deviceId online } }`;

describe('tenant isolation over the whole service', () => {
  let svc: TestService;
  let a: Tenant;
  let b: Tenant;
  let aDevice: string;
  let bDevice: string;
  let unknownDevice: string;
  const running: EmulatedDevice[] = [];

  async function tenant(name: string): Promise<Tenant> {
    const t = await gqlOk<{ createTenant: { adminKey: { secret: string } } }>(
      svc.graphqlUrl,
      svc.running.adminKey,
      `mutation($n: String!) { createTenant(input: { name: $n }) { adminKey { secret } } }`,
      { n: name },
    );
    const key = t.createTenant.adminKey.secret;
    const p = await gqlOk<{ createProduct: { id: string; deviceGroups: Array<{ id: string; name: string }> } }>(
      svc.graphqlUrl,
      key,
      `mutation { createProduct(input: { name: "Sensor" }) { id deviceGroups { id name } } }`,
    );
    const group = p.createProduct.deviceGroups.find((g) => g.name === 'Field Test');
    if (!group) throw new Error('no default group');
    return { key, productId: p.createProduct.id, groupId: group.id };
  }

  beforeAll(async () => {
    svc = await startTestService('sqlite');
    a = await tenant('Tenant A');
    b = await tenant('Tenant B');
    const made = await manufacture({
      serviceUrl: svc.graphqlUrl.replace(/\/graphql$/, ''),
      adminKey: svc.running.adminKey,
      count: 3,
      trustAnchorsPem: svc.running.rootCaPem,
    });
    const [ia, ib, iu] = made;
    if (!ia || !ib || !iu) throw new Error('manufacture failed');
    aDevice = ia.deviceId;
    bDevice = ib.deviceId;
    unknownDevice = iu.deviceId.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')); // well-formed, never registered
    await gqlOk(svc.graphqlUrl, a.key, CLAIM, { ids: [aDevice] });
    await gqlOk(svc.graphqlUrl, b.key, CLAIM, { ids: [bDevice] });
    await gqlOk(svc.graphqlUrl, a.key, ASSIGN, { ids: [aDevice], g: a.groupId });
    running.push(new EmulatedDevice({ identity: ia, brokerUrl: svc.mqttUrl }));
  });
  afterAll(async () => {
    await Promise.all(running.map((d) => d.stop()));
    await svc.dispose();
  });

  test("tenant B cannot read tenant A's device, product or group: NOT_FOUND", async () => {
    expect(errorCodes(await gql(svc.graphqlUrl, b.key, `query($id: ID!) { device(id: $id) { id } }`, { id: aDevice }))).toEqual(['NOT_FOUND']);
    expect(errorCodes(await gql(svc.graphqlUrl, b.key, `query($id: ID!) { product(id: $id) { id } }`, { id: a.productId }))).toEqual([
      'NOT_FOUND',
    ]);
    expect(errorCodes(await gql(svc.graphqlUrl, b.key, `query($id: ID!) { deviceGroup(id: $id) { id } }`, { id: a.groupId }))).toEqual([
      'NOT_FOUND',
    ]);
    const listed = await gqlOk<{ devices: { totalCount: number; edges: Array<{ node: { id: string } }> } }>(
      svc.graphqlUrl,
      b.key,
      `{ devices { totalCount edges { node { id } } } }`,
    );
    expect(listed.devices.edges.map((e) => e.node.id)).toEqual([bDevice]);
    expect(listed.devices.totalCount).toBe(1);
  });

  test("claiming tenant A's device looks exactly like claiming a device that does not exist", async () => {
    const r = await gqlOk<{ claimDevices: ClaimResult[] }>(svc.graphqlUrl, b.key, CLAIM, { ids: [aDevice, unknownDevice] });
    const [theirs, unknown] = r.claimDevices;
    expect(theirs).toMatchObject({ ok: false, errorCode: 'NOT_FOUND' });
    expect({ ...theirs, deviceId: null }).toEqual({ ...unknown, deviceId: null });
    // And it is still A's.
    const still = await gqlOk<{ device: { id: string } }>(svc.graphqlUrl, a.key, `query($id: ID!) { device(id: $id) { id } }`, { id: aDevice });
    expect(still.device.id).toBe(aDevice);
  });

  test("tenant B cannot assign tenant A's device, nor use tenant A's group", async () => {
    const r = await gqlOk<{ assignDevices: ClaimResult[] }>(svc.graphqlUrl, b.key, ASSIGN, { ids: [aDevice], g: b.groupId });
    expect(r.assignDevices[0]).toMatchObject({ ok: false, errorCode: 'NOT_FOUND' });
    expect(errorCodes(await gql(svc.graphqlUrl, b.key, ASSIGN, { ids: [bDevice], g: a.groupId }))).toEqual(['NOT_FOUND']);
    const aView = await gqlOk<{ device: { deviceGroup: { id: string } } }>(
      svc.graphqlUrl,
      a.key,
      `query($id: ID!) { device(id: $id) { deviceGroup { id } } }`,
      { id: aDevice },
    );
    expect(aView.device.deviceGroup.id).toBe(a.groupId);
  });

  test("tenant B's subscription never sees tenant A's devices come online", async () => {
    const seenByA = subscribe<{ deviceStatusChanged: { deviceId: string } }>(svc.wsUrl, a.key, SUB);
    const seenByB = subscribe<{ deviceStatusChanged: { deviceId: string } }>(svc.wsUrl, b.key, SUB);
    try {
      await Promise.all([seenByA.ready, seenByB.ready]);
      running[0]?.start();
      await seenByA.waitFor((xs) => xs.some((e) => e.deviceStatusChanged.deviceId === aDevice));
      // A's event has been fanned out; B, subscribed the whole time, got nothing.
      await new Promise((r) => setTimeout(r, 200));
      expect(seenByB.items).toEqual([]);
      expect(seenByB.error()).toBeNull();
    } finally {
      await seenByA.close();
      await seenByB.close();
    }
  });

  test('a Reader cannot claim, and a request without a key or with a bad one is UNAUTHENTICATED', async () => {
    const reader = await gqlOk<{ createApiKey: { secret: string } }>(
      svc.graphqlUrl,
      a.key,
      `mutation { createApiKey(input: { name: "ro", role: Reader }) { secret } }`,
    );
    expect(errorCodes(await gql(svc.graphqlUrl, reader.createApiKey.secret, CLAIM, { ids: [unknownDevice] }))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await gql(svc.graphqlUrl, null, `{ devices { totalCount } }`))).toEqual(['UNAUTHENTICATED']);
    expect(errorCodes(await gql(svc.graphqlUrl, 'sgk_nope', `{ devices { totalCount } }`))).toEqual(['UNAUTHENTICATED']);
  });

  describe('certificate brokering', () => {
    const REVOKE = `mutation($id: ID!) { revokeDevice(deviceId: $id, reason: "test") { id revokedAt } }`;
    const RESTORE = `mutation($id: ID!) { restoreDevice(deviceId: $id) { id revokedAt } }`;

    async function keyWithRole(owner: Tenant, role: 'Reader' | 'Contributor'): Promise<string> {
      const made = await gqlOk<{ createApiKey: { secret: string } }>(
        svc.graphqlUrl,
        owner.key,
        `mutation($n: String!, $r: Role!) { createApiKey(input: { name: $n, role: $r }) { secret } }`,
        { n: `${role} key`, r: role },
      );
      return made.createApiKey.secret;
    }

    test("tenant B cannot revoke or restore tenant A's device: NOT_FOUND, same as a device that does not exist", async () => {
      for (const mutation of [REVOKE, RESTORE]) {
        const theirs = await gql(svc.graphqlUrl, b.key, mutation, { id: aDevice });
        const unknown = await gql(svc.graphqlUrl, b.key, mutation, { id: unknownDevice });
        expect(errorCodes(theirs)).toEqual(['NOT_FOUND']);
        expect(errorCodes(unknown)).toEqual(['NOT_FOUND']);
      }
      const view = await gqlOk<{ device: { revokedAt: string | null } }>(svc.graphqlUrl, a.key, `query($id: ID!) { device(id: $id) { revokedAt } }`, { id: aDevice });
      expect(view.device.revokedAt).toBeNull();
    });

    test('only an Administrator revokes, restores, rotates the CA or allows images; a Reader may read the chain', async () => {
      const reader = await keyWithRole(a, 'Reader');
      const contributor = await keyWithRole(a, 'Contributor');
      const image = { componentId: '1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9', imageId: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', sha256: 'ab'.repeat(32) };
      for (const key of [reader, contributor]) {
        expect(errorCodes(await gql(svc.graphqlUrl, key, REVOKE, { id: aDevice }))).toEqual(['FORBIDDEN']);
        expect(errorCodes(await gql(svc.graphqlUrl, key, RESTORE, { id: aDevice }))).toEqual(['FORBIDDEN']);
        expect(errorCodes(await gql(svc.graphqlUrl, key, `mutation { rotateTenantCa { serialNumber } }`))).toEqual(['FORBIDDEN']);
        expect(errorCodes(await gql(svc.graphqlUrl, key, `mutation($i: AllowImageInput!) { allowImage(input: $i) { imageId } }`, { i: image }))).toEqual([
          'FORBIDDEN',
        ]);
      }
      // Registering OS releases is the platform operator's alone.
      expect(errorCodes(await gql(svc.graphqlUrl, a.key, `mutation { registerOsRelease(version: "25.01") { version } }`))).toEqual(['FORBIDDEN']);
      expect(errorCodes(await gql(svc.graphqlUrl, null, `{ caCertificateChain }`))).toEqual(['UNAUTHENTICATED']);
      const chain = await gqlOk<{ caCertificateChain: string }>(svc.graphqlUrl, reader, `{ caCertificateChain }`);
      expect(chain.caCertificateChain).toContain('BEGIN CERTIFICATE');
    });

    test("tenant A's chain never holds tenant B's CA, and each tenant lists only its own CAs", async () => {
      const cas = async (key: string) =>
        (await gqlOk<{ tenantCaCertificates: Array<{ serialNumber: string; certificate: string }> }>(svc.graphqlUrl, key, `{ tenantCaCertificates { serialNumber certificate } }`))
          .tenantCaCertificates;
      const [aCas, bCas] = [await cas(a.key), await cas(b.key)];
      const chainA = (await gqlOk<{ caCertificateChain: string }>(svc.graphqlUrl, a.key, `{ caCertificateChain }`)).caCertificateChain;
      for (const ca of bCas) expect(chainA).not.toContain(ca.certificate.trim().split('\n')[1]);
      expect(aCas.map((c) => c.serialNumber)).not.toEqual(expect.arrayContaining(bCas.map((c) => c.serialNumber)));
    });

    test("tenant B's certificateEvents never carry tenant A's revocation", async () => {
      const seenByA = subscribe<{ certificateEvents: { deviceId: string; kind: string } }>(svc.wsUrl, a.key, `subscription { certificateEvents { deviceId kind } }`);
      const seenByB = subscribe<{ certificateEvents: { deviceId: string; kind: string } }>(svc.wsUrl, b.key, `subscription { certificateEvents { deviceId kind } }`);
      try {
        await Promise.all([seenByA.ready, seenByB.ready]);
        await gqlOk(svc.graphqlUrl, a.key, REVOKE, { id: aDevice });
        await seenByA.waitFor((xs) => xs.some((e) => e.certificateEvents.deviceId === aDevice && e.certificateEvents.kind === 'REVOKED'));
        await new Promise((r) => setTimeout(r, 200));
        expect(seenByB.items).toEqual([]);
        await gqlOk(svc.graphqlUrl, a.key, RESTORE, { id: aDevice });
        await seenByA.waitFor((xs) => xs.some((e) => e.certificateEvents.kind === 'RESTORED'));
      } finally {
        await seenByA.close();
        await seenByB.close();
      }
    });

    test('the CRL route: public PEM for a tenant, 404 for an unknown or malformed one, 405 for other methods', async () => {
      const base = svc.graphqlUrl.replace(/\/graphql$/, '');
      const tenantId = (await gqlOk<{ tenant: { id: string } }>(svc.graphqlUrl, a.key, `{ tenant { id } }`)).tenant.id;
      const ok = await fetch(`${base}/tenants/${tenantId}/crl`);
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-type')).toBe('application/x-pem-file');
      expect((await ok.text()).match(/BEGIN X509 CRL/g)?.length).toBe(2); // the tenant CA's, then the root's
      expect((await fetch(`${base}/tenants/00000000-0000-4000-8000-000000000000/crl`)).status).toBe(404);
      expect((await fetch(`${base}/tenants/not-a-tenant/crl`)).status).toBe(404);
      expect((await fetch(`${base}/tenants/${tenantId}/crl`, { method: 'POST' })).status).toBe(405);
    });

    test('devices can be filtered by certificate health', async () => {
      const never = await gqlOk<{ devices: { edges: Array<{ node: { id: string; certificateHealth: string } }> } }>(
        svc.graphqlUrl,
        b.key,
        `{ devices(filter: { certificateHealth: NEVER_ISSUED }) { edges { node { id certificateHealth } } } }`,
      );
      expect(never.devices.edges.map((e) => e.node)).toEqual([{ id: bDevice, certificateHealth: 'NEVER_ISSUED' }]);
      const ok = await gqlOk<{ devices: { totalCount: number } }>(svc.graphqlUrl, b.key, `{ devices(filter: { certificateHealth: OK }) { totalCount } }`);
      expect(ok.devices.totalCount).toBe(0);
    });
  });
});
