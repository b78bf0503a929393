/**
 * The first slice, as a manufacturer lives it: create a tenant and a product, manufacture devices, claim them, put
 * them in a group, and watch them come online and go offline over mutual TLS — on SQLite and on PostgreSQL.
 */
import { EmulatedDevice, manufacture, type IdentityFile } from '../../device-agent/index.js';
import { TEST_DATABASES } from '../db.js';
import { gqlOk, startTestService, subscribe, until, type TestService } from '../harness.js';

const CREATE_TENANT = `mutation($name: String!) { createTenant(input: { name: $name }) { tenant { id name caCertificate } adminKey { secret apiKey { role } } } }`;
const CREATE_PRODUCT = `mutation($name: String!) { createProduct(input: { name: $name }) { id name deviceGroups { id name osFeed updatePolicy } } }`;
const CLAIM = `mutation($ids: [ID!]!) { claimDevices(deviceIds: $ids) { deviceId ok outcome errorCode } }`;
const ASSIGN = `mutation($ids: [ID!]!, $g: ID!) { assignDevices(deviceIds: $ids, deviceGroupId: $g) { deviceId ok outcome errorCode } }`;
const DEVICES = `query($f: DeviceFilter) { devices(filter: $f, first: 10) { totalCount edges { node { id deviceGroup { name } product { name } status { online lastSeen connectedSince osVersion } identityCertificate { serialNumber } } } } }`;
const STATUS_SUB = `subscription { deviceStatusChanged { deviceId online connectionSeq at } }`;

type Group = { id: string; name: string; osFeed: string; updatePolicy: string };
type StatusEvent = { deviceStatusChanged: { deviceId: string; online: boolean; connectionSeq: number } };
type DeviceNode = {
  id: string;
  deviceGroup: { name: string } | null;
  product: { name: string } | null;
  status: { online: boolean; lastSeen: string | null; connectedSince: string | null; osVersion: string | null };
};

describe.each(TEST_DATABASES)('the first slice on %s', (kind) => {
  let svc: TestService;
  const devices: EmulatedDevice[] = [];

  beforeAll(async () => {
    svc = await startTestService(kind);
  });
  afterAll(async () => {
    await Promise.all(devices.map((d) => d.stop()));
    await svc.dispose();
  });

  test('a tenant creates a product, claims three manufactured devices, and watches them online and offline', async () => {
    const admin = svc.running.adminKey;
    const { createTenant } = await gqlOk<{
      createTenant: { tenant: { id: string; caCertificate: string }; adminKey: { secret: string; apiKey: { role: string } } };
    }>(svc.graphqlUrl, admin, CREATE_TENANT, { name: 'Contoso' });
    expect(createTenant.tenant.caCertificate).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(createTenant.adminKey.apiKey.role).toBe('Administrator');
    const key = createTenant.adminKey.secret;

    const { createProduct } = await gqlOk<{ createProduct: { id: string; deviceGroups: Group[] } }>(
      svc.graphqlUrl,
      key,
      CREATE_PRODUCT,
      { name: 'Thermostat' },
    );
    const groups = Object.fromEntries(createProduct.deviceGroups.map((g) => [g.name, g]));
    expect(Object.keys(groups).sort()).toEqual(
      ['Development', 'Field Test', 'Field Test OS Evaluation', 'Production', 'Production OS Evaluation'].sort(),
    );
    expect(groups['Development']).toMatchObject({ osFeed: 'Retail', updatePolicy: 'No3rdPartyAppUpdates' });
    expect(groups['Field Test']).toMatchObject({ osFeed: 'Retail', updatePolicy: 'UpdateAll' });
    expect(groups['Production']).toMatchObject({ osFeed: 'Retail', updatePolicy: 'UpdateAll' });
    expect(groups['Field Test OS Evaluation']).toMatchObject({ osFeed: 'RetailEval', updatePolicy: 'UpdateAll' });
    expect(groups['Production OS Evaluation']).toMatchObject({ osFeed: 'RetailEval', updatePolicy: 'UpdateAll' });

    const identities: IdentityFile[] = await manufacture({
      serviceUrl: svc.graphqlUrl.replace(/\/graphql$/, ''),
      adminKey: admin,
      count: 3,
      trustAnchorsPem: svc.running.rootCaPem,
    });
    const ids = identities.map((i) => i.deviceId);
    expect(ids).toHaveLength(3);
    for (const id of ids) expect(id).toMatch(/^[0-9A-F]{128}$/);

    const { claimDevices } = await gqlOk<{ claimDevices: Array<{ deviceId: string; ok: boolean; outcome: string }> }>(
      svc.graphqlUrl,
      key,
      CLAIM,
      { ids },
    );
    expect(claimDevices.map((r) => [r.deviceId, r.ok, r.outcome])).toEqual(ids.map((id) => [id, true, 'CLAIMED']));
    const fieldTest = groups['Field Test'];
    if (!fieldTest) throw new Error('no Field Test group');
    const { assignDevices } = await gqlOk<{ assignDevices: Array<{ ok: boolean; outcome: string }> }>(svc.graphqlUrl, key, ASSIGN, {
      ids,
      g: fieldTest.id,
    });
    expect(assignDevices.every((r) => r.ok && r.outcome === 'ASSIGNED')).toBe(true);

    const events = subscribe<StatusEvent>(svc.wsUrl, key, STATUS_SUB);
    try {
      await events.ready;
      for (const identity of identities) {
        const d = new EmulatedDevice({ identity, brokerUrl: svc.mqttUrl, osVersion: '24.10.1' });
        devices.push(d);
        d.start();
      }
      await events.waitFor((xs) => new Set(xs.filter((e) => e.deviceStatusChanged.online).map((e) => e.deviceStatusChanged.deviceId)).size === 3);
      expect(new Set(events.items.map((e) => e.deviceStatusChanged.deviceId))).toEqual(new Set(ids));

      const listed = await gqlOk<{ devices: { totalCount: number; edges: Array<{ node: DeviceNode }> } }>(svc.graphqlUrl, key, DEVICES, {
        f: { deviceGroupId: fieldTest.id },
      });
      expect(listed.devices.totalCount).toBe(3);
      for (const { node } of listed.devices.edges) {
        expect(node.deviceGroup?.name).toBe('Field Test');
        expect(node.product?.name).toBe('Thermostat');
        expect(node.status.online).toBe(true);
        expect(node.status.connectedSince).not.toBeNull();
      }
      // The status report each device sends on connect is stored.
      await until(async () => {
        const r = await gqlOk<{ devices: { edges: Array<{ node: DeviceNode }> } }>(svc.graphqlUrl, key, DEVICES, {});
        return r.devices.edges.every((e) => e.node.status.osVersion === '24.10.1');
      }, 10_000, 'status reports stored');

      const leaving = devices[0];
      if (!leaving) throw new Error('no device');
      await leaving.stop();
      await events.waitFor((xs) => xs.some((e) => e.deviceStatusChanged.deviceId === leaving.deviceId && !e.deviceStatusChanged.online));

      const online = await gqlOk<{ devices: { totalCount: number; edges: Array<{ node: DeviceNode }> } }>(svc.graphqlUrl, key, DEVICES, {
        f: { online: true },
      });
      expect(online.devices.totalCount).toBe(2);
      expect(online.devices.edges.map((e) => e.node.id)).not.toContain(leaving.deviceId);
      const offline = await gqlOk<{ devices: { totalCount: number; edges: Array<{ node: DeviceNode }> } }>(svc.graphqlUrl, key, DEVICES, {
        f: { online: false },
      });
      expect(offline.devices.edges.map((e) => e.node.id)).toEqual([leaving.deviceId]);
      expect(offline.devices.edges[0]?.node.status.lastSeen).not.toBeNull();
    } finally {
      await events.close();
    }
  });
});
