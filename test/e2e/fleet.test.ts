/**
 * The fleet simulator as an operator runs it (`device-agent fleet`), against the whole service: it manufactures 50
 * devices, claims them into a group, brings them all online with certificates, and shuts them down cleanly.
 */
import { join } from 'node:path';
import { main } from '../../device-agent/cli.js';
import { gqlOk, startTestService, until, type TestService } from '../harness.js';

describe('device-agent fleet', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('sqlite');
  });
  afterAll(async () => {
    await svc.dispose();
  });

  test('brings up 50 claimed, certified devices and stops them cleanly', async () => {
    const { createTenant } = await gqlOk<{ createTenant: { adminKey: { secret: string } } }>(
      svc.graphqlUrl,
      svc.running.adminKey,
      `mutation { createTenant(input: { name: "Fleet" }) { adminKey { secret } } }`,
    );
    const key = createTenant.adminKey.secret;
    const { createProduct } = await gqlOk<{ createProduct: { deviceGroups: Array<{ id: string; name: string }> } }>(
      svc.graphqlUrl,
      key,
      `mutation { createProduct(input: { name: "Sensor" }) { deviceGroups { id name } } }`,
    );
    const group = createProduct.deviceGroups.find((g) => g.name === 'Field Test');
    if (!group) throw new Error('no group');

    const count = async (filter: string): Promise<number> =>
      (await gqlOk<{ devices: { totalCount: number } }>(svc.graphqlUrl, key, `{ devices(filter: ${filter}) { totalCount } }`)).devices.totalCount;
    let requestStop = (): void => undefined;
    const stopRequested = new Promise<void>((resolve) => (requestStop = resolve));
    const err: string[] = [];
    const out: string[] = [];
    const run = main(
      [
        'fleet',
        '--count', '50',
        '--service', svc.graphqlUrl.replace(/\/graphql$/, ''),
        '--broker', svc.mqttUrl,
        '--admin-key', svc.running.adminKey,
        '--ca', join(svc.dataDir, 'pki', 'root-ca.pem'),
        '--tenant-key', key,
        '--claim-into', group.id,
        '--ramp', '200',
      ],
      { out: (l) => out.push(l), err: (l) => err.push(l), env: {}, stopRequested },
    );

    await until(async () => (await count(`{ deviceGroupId: "${group.id}", online: true }`)) === 50, 60_000, '50 devices online');
    await until(async () => (await count(`{ certificateHealth: OK }`)) === 50, 60_000, '50 devices certified');
    requestStop();
    expect(await run).toBe(0);
    expect(err).toContain('all 50 devices online');
    // Stopped cleanly: every device disconnected and recorded offline.
    await until(async () => (await count(`{ online: false }`)) === 50, 10_000, 'all offline');
    expect(out.at(-1)).toMatch(/^0\/50 online, 50 certified, 50 started$/);
  }, 120_000);
});
