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
        // Generous (the default is 60 s): under load the 50 connections and attestations take much longer.
        '--up-timeout', '150',
      ],
      { out: (l) => out.push(l), err: (l) => err.push(l), env: {}, stopRequested },
    );
    let exitCode: number;
    try {
      // The fleet says when all its devices are up (or that they did not come up in time); waiting on its word
      // rather than polling GraphQL every 25 ms leaves the CPU to the devices. The bound only ends a hang.
      await until(() => err.some((l) => l === 'all 50 devices online' || l.startsWith('not all devices came up')), 200_000, 'the fleet to report');
      expect(err).toContain('all 50 devices online');
      await until(async () => (await count(`{ deviceGroupId: "${group.id}", online: true }`)) === 50, 30_000, '50 devices online');
      await until(async () => (await count(`{ certificateHealth: OK }`)) === 50, 60_000, '50 devices certified');
    } finally {
      // Also on failure: a fleet left running reconnects after this file's environment is gone and fails the
      // next test file ("You are trying to `require` a file after the Jest environment has been torn down").
      requestStop();
      exitCode = await run;
    }
    expect(exitCode).toBe(0);
    // Stopped cleanly: every device disconnected and recorded offline.
    await until(async () => (await count(`{ online: false }`)) === 50, 10_000, 'all offline');
    expect(out.at(-1)).toMatch(/^0\/50 online, 50 certified, 50 started$/);
  }, 300_000);
});
