/**
 * A reconnecting device resumes its TLS session (no full ECDSA handshake), and the broker still knows exactly who
 * it is: the resumed session carries the device's certificate, which admission checks as on a cold start.
 */
import { EmulatedDevice, MemoryCertificateStore } from '../../device-agent/index.js';
import { TEST_DATABASES } from '../db.js';
import { gqlOk, startTestService, until, type TestService } from '../harness.js';
import { claim, createTenant, manufactureDevices } from './certificate-support.js';

describe.each(TEST_DATABASES)('TLS session resumption on %s', (kind) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(kind);
  });
  afterAll(async () => {
    await svc.dispose();
  });

  test('a reconnect resumes the session and is admitted as the same device; a revoked device is still refused', async () => {
    const tenant = await createTenant(svc, `Resume ${kind}`);
    const [identity] = await manufactureDevices(svc, 1);
    await claim(svc, tenant, [identity!]);
    const device = new EmulatedDevice({ identity: identity!, brokerUrl: svc.mqttUrl, backoff: { baseMs: 100, capMs: 200 }, attestation: { store: new MemoryCertificateStore(), enabled: false } });
    const handshakes: boolean[] = [];
    device.on('tls', ({ resumed }) => handshakes.push(resumed));
    const online = () => new Promise<void>((resolve) => device.once('online', () => resolve()));

    let up = online();
    device.start();
    await up;
    await device.stop();
    up = online();
    device.start();
    await up;
    expect(handshakes).toEqual([false, true]);
    // The broker counts the resumption too (what the reconnect-storm benchmark and operators read).
    expect(svc.running.broker.tlsHandshakes().resumed).toBeGreaterThanOrEqual(1);
    const seq = async () =>
      (await gqlOk<{ device: { status: { online: boolean; connectionSeq: number } } }>(svc.graphqlUrl, tenant.key, `query($id: ID!) { device(id: $id) { status { online connectionSeq } } }`, { id: identity!.deviceId }))
        .device.status;
    await until(async () => (await seq()).connectionSeq === 2, 5_000, 'the second connection to be recorded');
    expect((await seq()).online).toBe(true);

    // Revocation cuts the connection, and a resumed session does not get past admission.
    await device.stop();
    await gqlOk(svc.graphqlUrl, tenant.key, `mutation($id: ID!) { revokeDevice(deviceId: $id, reason: "stolen") { id } }`, { id: identity!.deviceId });
    const refused = new Promise<string>((resolve) => device.on('state', (s) => s.state === 'backoff' && resolve(s.reason ?? '')));
    device.start();
    expect(await refused).toMatch(/Not authorized|not authorized|refused/i);
    expect(handshakes.at(-1)).toBe(true);
    await device.stop();
  });
});
