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
/**
 * The fleet runs on a service of its own whose certificates live longer and whose nonces keep the default TTL
 * (60 s). 50 devices attesting at once share this process's CPU with the service: on a loaded 2-core machine
 * (load 8-9) one exchange took 4-8 s, and renewals drawn into the same few seconds queued up to 19 s. With 6 s
 * certificates and 3 s nonces, renewals were refused as NONCE_EXPIRED, certificates expired before the retry (so
 * the next one was a first issue, not a renewal), and a certificate arriving after its device's drawn point makes
 * the device renew at once rather than as drawn. 20 s leaves about 10 s between issue and the earliest renewal
 * point (60 % of notBefore..notAfter).
 */
const FLEET_LIFETIME_SECONDS = 20;
/**
 * How long a fleet device waits for each reply. Generous: replies have no deadline in this test (it is about when
 * renewals are planned), and under load the exchanges queue behind each other past the agent's 10 s default.
 */
const FLEET_REPLY_TIMEOUT_MS = 60_000;

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
      expect(offline).toBe(0);
      expect(device.state).toBe('online');
      // Renewed while the first was still valid, so a relying party never saw the device without a certificate:
      // the service announces RENEWED (not ISSUED) only if the held certificate had not expired when it issued the
      // new one. (Judged by the service's clock at issue, not by when this test's polling happens to run.)
      await events.waitFor((xs) => xs.some((e) => e.certificateEvents.kind === 'RENEWED' && e.certificateEvents.serialNumber === second?.serialNumber));
    } finally {
      await events.close();
    }
  });

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

describe.each(TEST_DATABASES)('fleet renewal on %s', (kind) => {
  let svc: TestService;
  let tenant: Tenant;
  const devices: EmulatedDevice[] = [];

  beforeAll(async () => {
    svc = await startTestService(kind, { env: { SPHEREGATE_DEVICE_CERT_LIFETIME: String(FLEET_LIFETIME_SECONDS) } });
    tenant = await createTenant(svc, `Fleet renewals ${kind}`);
  });
  afterAll(async () => {
    await Promise.all(devices.map((d) => d.stop()));
    await svc.dispose();
  });

  test(`a fleet of ${FLEET} spreads its renewals over time (jitter)`, async () => {
    const identities = await manufactureDevices(svc, FLEET);
    await claim(svc, tenant, identities);
    const issued = new Map<string, CertificateInfo>();
    /** Where in its first certificate's life each device planned to renew: (planned time - notBefore) / lifetime. */
    const planned = new Map<string, number>();
    const renewed = new Set<string>();
    for (const identity of identities) {
      const device = new EmulatedDevice({
        identity,
        brokerUrl: svc.mqttUrl,
        attestation: { store: new MemoryCertificateStore(), replyTimeoutMs: FLEET_REPLY_TIMEOUT_MS },
      });
      devices.push(device);
      device.on('certificate', (c) => {
        if (!issued.has(identity.deviceId)) issued.set(identity.deviceId, c);
        else if (c.renewal && !renewed.has(identity.deviceId)) {
          renewed.add(identity.deviceId);
          // Done with this device: its further renewals (every 13-18 s) would only load the service that the
          // rest of the fleet is still waiting on (at load 9 they outpaced it and the queue never drained).
          void device.stop();
        }
      });
      device.on('renewal-planned', ({ at }) => {
        const first = issued.get(identity.deviceId);
        if (!first || planned.has(identity.deviceId)) return;
        planned.set(identity.deviceId, (at.getTime() - first.notBefore.getTime()) / (first.notAfter.getTime() - first.notBefore.getTime()));
      });
      device.start();
    }
    // Every device really renews. The last renewal is due about 20 s after the fleet starts (under 10 s to attest
    // on an idle machine, at most 80 % of 22 s after that); the timeout only bounds a failure ...
    await until(() => renewed.size === FLEET, 120_000, 'every device renewed once');

    // ... at the point it drew: within 60-80 % of its certificate's life (the plan, which load cannot shift while
    // certificates arrive before 60 %, see FLEET_LIFETIME_SECONDS; a loaded event loop only makes timers late) ...
    const fractions = [...planned.values()].sort((a, b) => a - b);
    expect(fractions).toHaveLength(FLEET);
    const first = fractions[0] ?? 0;
    const last = fractions.at(-1) ?? 0;
    expect(first).toBeGreaterThanOrEqual(0.6 - 0.001);
    expect(last).toBeLessThanOrEqual(0.8 + 0.001);
    // ... spread over that window rather than in one instant (without jitter all 50 would share one point;
    // 50 uniform draws span less than half the window with probability ~1e-14) ...
    expect(last - first).toBeGreaterThan(0.1);
    // ... and at distinct milliseconds (the window is about 4,000 ms wide: a coincidence or two is expected by chance).
    const plannedMs = [...planned.entries()].map(([id, f]) => {
      const c = issued.get(id);
      return c ? Math.round(c.notBefore.getTime() + f * (c.notAfter.getTime() - c.notBefore.getTime())) : 0;
    });
    expect(new Set(plannedMs).size).toBeGreaterThanOrEqual(FLEET - 10);
  }, 180_000);
});
