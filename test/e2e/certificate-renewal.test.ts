/**
 * Renewal with a certificate lifetime of seconds (SPHEREGATE_DEVICE_CERT_LIFETIME), over the real broker: a device
 * renews before expiry without going offline, a fleet spreads its renewals over time, and a nonce used after
 * its expiry (SPHEREGATE_ATTESTATION_NONCE_TTL) is refused.
 */
import { EmulatedDevice, MemoryCertificateStore, type CertificateInfo } from '../../device-agent/index.js';
import { TEST_DATABASES } from '../db.js';
import { startTestService, subscribe, until, type TestService } from '../harness.js';
import { claim, createTenant, manufactureDevices, onlineDevice, rawAttest, rawChallenge, type Tenant } from './certificate-support.js';

const LIFETIME_SECONDS = 6;
const NONCE_TTL_SECONDS = 3;
const FLEET = 50;

type CertificateEvent = { certificateEvents: { kind: string; deviceId: string; serialNumber: string | null } };

describe.each(TEST_DATABASES)('certificate renewal on %s', (kind) => {
  let svc: TestService;
  let tenant: Tenant;
  const devices: EmulatedDevice[] = [];

  beforeAll(async () => {
    svc = await startTestService(kind, {
      env: { SPHEREGATE_DEVICE_CERT_LIFETIME: String(LIFETIME_SECONDS), SPHEREGATE_ATTESTATION_NONCE_TTL: String(NONCE_TTL_SECONDS) },
    });
    tenant = await createTenant(svc, `Renewals ${kind}`);
  });
  afterAll(async () => {
    await Promise.all(devices.map((d) => d.stop()));
    await svc.dispose();
  });

  test('a device renews before its certificate expires, without going offline', async () => {
    const [identity] = await manufactureDevices(svc, 1);
    if (!identity) throw new Error('no identity');
    await claim(svc, tenant, [identity]);
    const events = subscribe<CertificateEvent>(svc.wsUrl, tenant.key, `subscription { certificateEvents { kind deviceId serialNumber } }`);
    try {
      await events.ready;
      const device = new EmulatedDevice({ identity, brokerUrl: svc.mqttUrl, attestation: { store: new MemoryCertificateStore() } });
      devices.push(device);
      const certificates: CertificateInfo[] = [];
      let offline = 0;
      device.on('certificate', (c) => certificates.push(c));
      device.on('offline', () => offline++);
      device.start();

      await until(() => certificates.length >= 2, 15_000, 'a renewal');
      const [first, second] = certificates;
      expect(first?.renewal).toBe(false);
      expect(second?.renewal).toBe(true);
      expect(second?.serialNumber).not.toBe(first?.serialNumber);
      // Renewed while the first was still valid, so a relying party never saw the device without a certificate.
      expect(Date.now()).toBeLessThan((first?.notAfter.getTime() ?? 0) + 1000);
      expect(offline).toBe(0);
      expect(device.state).toBe('online');
      await events.waitFor((xs) => xs.some((e) => e.certificateEvents.kind === 'RENEWED' && e.certificateEvents.serialNumber === second?.serialNumber));
    } finally {
      await events.close();
    }
  });

  test(`a fleet of ${FLEET} spreads its renewals over time (jitter)`, async () => {
    const identities = await manufactureDevices(svc, FLEET);
    await claim(svc, tenant, identities);
    const issued = new Map<string, CertificateInfo>();
    /** Where in its first certificate's life each device planned to renew: (planned time - notBefore) / lifetime. */
    const planned = new Map<string, number>();
    const renewed = new Set<string>();
    for (const identity of identities) {
      const device = new EmulatedDevice({ identity, brokerUrl: svc.mqttUrl, attestation: { store: new MemoryCertificateStore() } });
      devices.push(device);
      device.on('certificate', (c) => {
        if (!issued.has(identity.deviceId)) issued.set(identity.deviceId, c);
        else if (c.renewal) renewed.add(identity.deviceId);
      });
      device.on('renewal-planned', ({ at }) => {
        const first = issued.get(identity.deviceId);
        if (!first || planned.has(identity.deviceId)) return;
        planned.set(identity.deviceId, (at.getTime() - first.notBefore.getTime()) / (first.notAfter.getTime() - first.notBefore.getTime()));
      });
      device.start();
    }
    // Every device really renews ...
    await until(() => renewed.size === FLEET, 30_000, 'every device renewed once');

    // ... at the point it drew: within 60-80 % of its certificate's life (the plan, which the machine's load
    // cannot shift; a loaded event loop only makes timers late) ...
    const fractions = [...planned.values()].sort((a, b) => a - b);
    expect(fractions).toHaveLength(FLEET);
    const first = fractions[0] ?? 0;
    const last = fractions.at(-1) ?? 0;
    expect(first).toBeGreaterThanOrEqual(0.6 - 0.001);
    expect(last).toBeLessThanOrEqual(0.8 + 0.001);
    // ... spread over that window rather than in one instant (without jitter all 50 would share one point;
    // 50 uniform draws span less than half the window with probability ~1e-14) ...
    expect(last - first).toBeGreaterThan(0.1);
    // ... and at distinct milliseconds (the window is about 1,300 ms wide: a few coincidences are expected by chance).
    const plannedMs = [...planned.entries()].map(([id, f]) => {
      const c = issued.get(id);
      return c ? Math.round(c.notBefore.getTime() + f * (c.notAfter.getTime() - c.notBefore.getTime())) : 0;
    });
    expect(new Set(plannedMs).size).toBeGreaterThanOrEqual(FLEET - 10);
  }, 60_000);

  test('an expired nonce is refused', async () => {
    const [identity] = await manufactureDevices(svc, 1);
    if (!identity) throw new Error('no identity');
    await claim(svc, tenant, [identity]);
    const device = await onlineDevice(svc, identity, { attest: false });
    devices.push(device);
    const { nonce, expiresAt } = await rawChallenge(device);
    expect(Date.parse(expiresAt) - Date.now()).toBeLessThanOrEqual(NONCE_TTL_SECONDS * 1000);
    await new Promise((resolve) => setTimeout(resolve, NONCE_TTL_SECONDS * 1000 + 300));
    expect(await rawAttest(device, identity, nonce)).toMatchObject({ result: 'REFUSED', reason: 'NONCE_EXPIRED' });
  });
});
