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
});
