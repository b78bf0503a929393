/**
 * Nothing accepted is lost to a restart: stop the service and start it again on the same data directory and
 * database; tenants, keys, devices, claims and the PKI survive, and devices come back by themselves.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EmulatedDevice, manufacture } from '../../device-agent/index.js';
import { TEST_DATABASES } from '../db.js';
import { errorCodes, gql, gqlOk, startTestService, until, type TestService } from '../harness.js';

const DEVICES = `{ devices(first: 10) { totalCount edges { node { id status { online connectionSeq } } } } }`;
type Listed = { devices: { totalCount: number; edges: Array<{ node: { id: string; status: { online: boolean; connectionSeq: number } } }> } };

describe.each(TEST_DATABASES)('restart on %s', (kind) => {
  let svc: TestService;
  const devices: EmulatedDevice[] = [];
  beforeAll(async () => {
    svc = await startTestService(kind);
  });
  afterAll(async () => {
    await Promise.all(devices.map((d) => d.stop()));
    await svc.dispose();
  });

  test('tenants, keys, devices, claims and PKI survive, and devices reconnect by themselves', async () => {
    const admin = svc.running.adminKey;
    const { createTenant } = await gqlOk<{ createTenant: { tenant: { id: string; caCertificate: string }; adminKey: { secret: string } } }>(
      svc.graphqlUrl,
      admin,
      `mutation { createTenant(input: { name: "Fabrikam" }) { tenant { id caCertificate } adminKey { secret } } }`,
    );
    const key = createTenant.adminKey.secret;
    const { createApiKey } = await gqlOk<{ createApiKey: { secret: string; apiKey: { id: string } } }>(
      svc.graphqlUrl,
      key,
      `mutation { createApiKey(input: { name: "dashboard", role: Reader }) { secret apiKey { id } } }`,
    );
    const { revokeApiKey } = await gqlOk<{ revokeApiKey: { id: string } }>(
      svc.graphqlUrl,
      key,
      `mutation($id: ID!) { revokeApiKey(id: $id) { id } }`,
      { id: createApiKey.apiKey.id },
    );
    expect(revokeApiKey.id).toBe(createApiKey.apiKey.id);

    const identities = await manufacture({
      serviceUrl: svc.graphqlUrl.replace(/\/graphql$/, ''),
      adminKey: admin,
      count: 2,
      trustAnchorsPem: svc.running.rootCaPem,
    });
    const ids = identities.map((i) => i.deviceId);
    await gqlOk(svc.graphqlUrl, key, `mutation($ids: [ID!]!) { claimDevices(deviceIds: $ids) { ok } }`, { ids });
    for (const identity of identities) {
      const d = new EmulatedDevice({ identity, brokerUrl: svc.mqttUrl, backoff: { baseMs: 50, capMs: 300 } });
      devices.push(d);
      d.start();
    }
    await until(async () => (await gqlOk<Listed>(svc.graphqlUrl, key, DEVICES)).devices.edges.every((e) => e.node.status.online), 10_000);
    const rootBefore = await readFile(join(svc.dataDir, 'pki', 'root-ca.pem'), 'utf8');
    const adminBefore = svc.running.adminKey;

    await svc.restart();

    // The same platform-admin key and PKI; the tenant's CA unchanged.
    expect(svc.running.adminKey).toBe(adminBefore);
    expect(svc.running.rootCaPem).toBe(rootBefore);
    const { tenant } = await gqlOk<{ tenant: { id: string; caCertificate: string } }>(svc.graphqlUrl, key, `{ tenant { id caCertificate } }`);
    expect(tenant).toEqual(createTenant.tenant);
    // A revoked key stays revoked.
    expect(errorCodes(await gql(svc.graphqlUrl, createApiKey.secret, `{ tenant { id } }`))).toEqual(['UNAUTHENTICATED']);
    // Claims survive and the devices come back by themselves, on a new connection.
    await until(
      async () => {
        const r = await gqlOk<Listed>(svc.graphqlUrl, key, DEVICES);
        return r.devices.totalCount === 2 && r.devices.edges.every((e) => e.node.status.online && e.node.status.connectionSeq >= 2);
      },
      15_000,
      'devices reconnected after the restart',
    );
    const listed = await gqlOk<Listed>(svc.graphqlUrl, key, DEVICES);
    expect(listed.devices.edges.map((e) => e.node.id).sort()).toEqual([...ids].sort());
    // Claiming again is one-time: still the caller's.
    const again = await gqlOk<{ claimDevices: Array<{ outcome: string }> }>(
      svc.graphqlUrl,
      key,
      `mutation($ids: [ID!]!) { claimDevices(deviceIds: $ids) { outcome } }`,
      { ids },
    );
    expect(again.claimDevices.map((r) => r.outcome)).toEqual(['ALREADY_CLAIMED', 'ALREADY_CLAIMED']);
  });
});
