/**
 * Remote attestation in the domain: every check of AttestationService.attest, each refusal on its own, with real
 * ECDSA signatures by a real device identity key (the certificate machinery is the fake PKI's).
 */
import { sign, type KeyObject } from 'node:crypto';
import type { CertificateChanged } from '../../domain/events/events.js';
import { TEST_DATABASES } from '../db.js';
import { newDeviceKey } from '../fakes/device-keys.js';
import { fakeCsr, fakeOperationalCsr } from '../fakes/fake-pki.js';
import { PLATFORM, newTenant, openDomainFixture, type DomainFixture, type TestTenant } from './domain-fixture.js';

const IMAGE = { componentId: '1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9', imageId: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', sha256: 'ab'.repeat(32) };

interface TestDevice {
  readonly id: string;
  readonly privateKey: KeyObject;
}


describe.each(TEST_DATABASES)('attestation on %s', (kind) => {
  let fx: DomainFixture;
  let tenant: TestTenant;

  beforeAll(async () => {
    fx = await openDomainFixture(kind, { nonceTtlSeconds: 60, deviceCertificateLifetimeSeconds: 3600 });
    tenant = await newTenant(fx.services);
    await fx.services.certificates.registerOsRelease(PLATFORM, '24.10');
    await fx.services.certificates.allowImage(tenant.admin, IMAGE);
  });
  afterAll(async () => {
    await fx.dispose();
  });

  async function device(opts: { claim?: boolean } = {}): Promise<TestDevice> {
    const key = newDeviceKey();
    const id = key.pointHex.slice(2);
    const [made] = await fx.services.devices.manufactureDevices(PLATFORM, [fakeCsr(id)]);
    if (!made?.ok) throw new Error('manufacture failed');
    if (opts.claim !== false) await fx.services.devices.claimDevices(tenant.admin, [id]);
    return { id, privateKey: key.privateKey };
  }

  async function nonceFor(deviceId: string): Promise<string> {
    const challenge = await fx.services.attestation.challenge(deviceId);
    if (!('nonce' in challenge)) throw new Error('challenge refused');
    return challenge.nonce;
  }

  function evidence(
    d: TestDevice,
    nonce: string,
    opts: { osVersion?: string; images?: (typeof IMAGE)[]; csr?: string; deviceId?: string; signWith?: KeyObject } = {},
  ) {
    const statement = Buffer.from(
      JSON.stringify({
        v: 1,
        nonce,
        deviceId: opts.deviceId ?? d.id,
        measurements: { osVersion: opts.osVersion ?? '24.10', images: opts.images ?? [IMAGE] },
        csr: opts.csr ?? fakeOperationalCsr(newDeviceKey().pointHex),
      }),
    );
    const signature = sign('sha256', statement, { key: opts.signWith ?? d.privateKey, dsaEncoding: 'ieee-p1363' });
    return { statement: new Uint8Array(statement), signature: new Uint8Array(signature) };
  }

  const certificateEvents = (deviceId: string): CertificateChanged[] =>
    fx.events.filter((e): e is CertificateChanged => e.type === 'CertificateChanged' && e.deviceId === deviceId);

  async function expectRefused(d: TestDevice, outcome: Promise<unknown>, reason: string): Promise<void> {
    expect(await outcome).toMatchObject({ ok: false, reason });
    const view = await fx.services.devices.getDevice(tenant.admin, d.id);
    expect(view.lastAttestation).toMatchObject({ result: 'FAILED' });
    expect(view.lastAttestation?.reason).toContain(reason);
    expect(view.certificate).toBeNull();
    expect(certificateEvents(d.id).at(-1)).toMatchObject({ kind: 'ATTESTATION_FAILED', reason });
  }

  test('a claimed device with allowed measurements gets a certificate from its tenant CA', async () => {
    const d = await device();
    const outcome = await fx.services.attestation.attest(d.id, evidence(d, await nonceFor(d.id)));
    expect(outcome).toMatchObject({ ok: true });
    if (!outcome.ok) return;
    const [active] = await fx.services.certificates.listTenantCas(tenant.admin);
    expect(fx.pki.issued.at(-1)).toEqual({ caSerialNumber: active!.serialNumber, deviceId: d.id, serialNumber: outcome.serialNumber });
    expect(outcome.chainPem).toBe(`${active!.certificatePem.trimEnd()}\n${fx.pki.rootCaPem.trimEnd()}\n`);
    expect(outcome.notAfter.getTime() - fx.clock.now().getTime()).toBe(3600_000);

    const view = await fx.services.devices.getDevice(tenant.admin, d.id);
    expect(view.certificate).toMatchObject({ serialNumber: outcome.serialNumber });
    expect(view.lastAttestation).toMatchObject({ result: 'SUCCEEDED', reason: null });
    expect(view.certificateHealth).toBe('OK');
    expect(certificateEvents(d.id)).toEqual([expect.objectContaining({ kind: 'ISSUED', serialNumber: outcome.serialNumber, tenantId: tenant.tenantId })]);
  });

  test('renewal: a second attestation supersedes the first certificate and is announced as RENEWED', async () => {
    const d = await device();
    const first = await fx.services.attestation.attest(d.id, evidence(d, await nonceFor(d.id)));
    const second = await fx.services.attestation.attest(d.id, evidence(d, await nonceFor(d.id)));
    expect(first.ok && second.ok).toBe(true);
    if (!first.ok || !second.ok) return;
    expect(second.serialNumber).not.toBe(first.serialNumber);
    expect(certificateEvents(d.id).map((e) => e.kind)).toEqual(['ISSUED', 'RENEWED']);
    // The superseded certificate still admits the device until it expires; a made-up thumbprint does not.
    expect((await fx.services.devices.getDevice(tenant.admin, d.id)).certificate?.serialNumber).toBe(second.serialNumber);
  });

  test('a replayed nonce is refused', async () => {
    const d = await device();
    const nonce = await nonceFor(d.id);
    expect(await fx.services.attestation.attest(d.id, evidence(d, nonce))).toMatchObject({ ok: true });
    expect(await fx.services.attestation.attest(d.id, evidence(d, nonce))).toMatchObject({ ok: false, reason: 'NONCE_REPLAYED' });
    expect(certificateEvents(d.id).at(-1)).toMatchObject({ kind: 'RENEWAL_FAILED', reason: 'NONCE_REPLAYED' });
  });

  test("device A's nonce used by device B is refused, and stays usable by A", async () => {
    const a = await device();
    const b = await device();
    const nonceOfA = await nonceFor(a.id);
    await expectRefused(b, fx.services.attestation.attest(b.id, evidence(b, nonceOfA)), 'NONCE_INVALID');
    expect(await fx.services.attestation.attest(a.id, evidence(a, nonceOfA))).toMatchObject({ ok: true });
  });

  test('an expired nonce is refused', async () => {
    const d = await device();
    const nonce = await nonceFor(d.id);
    fx.clock.advance(61_000);
    await expectRefused(d, fx.services.attestation.attest(d.id, evidence(d, nonce)), 'NONCE_EXPIRED');
  });

  test('a nonce never issued is refused', async () => {
    const d = await device();
    await expectRefused(d, fx.services.attestation.attest(d.id, evidence(d, 'A'.repeat(43))), 'NONCE_INVALID');
  });

  test('a signature by another key is refused', async () => {
    const d = await device();
    await expectRefused(d, fx.services.attestation.attest(d.id, evidence(d, await nonceFor(d.id), { signWith: newDeviceKey().privateKey })), 'BAD_SIGNATURE');
  });

  test('a statement altered after signing is refused', async () => {
    const d = await device();
    const good = evidence(d, await nonceFor(d.id));
    const tampered = Buffer.from(Buffer.from(good.statement).toString('utf8').replace('24.10', '24.11'));
    await expectRefused(d, fx.services.attestation.attest(d.id, { statement: new Uint8Array(tampered), signature: good.signature }), 'BAD_SIGNATURE');
  });

  test('a CSR whose own signature fails is refused', async () => {
    const d = await device();
    const csr = fakeOperationalCsr(newDeviceKey().pointHex, false);
    await expectRefused(d, fx.services.attestation.attest(d.id, evidence(d, await nonceFor(d.id), { csr })), 'BAD_CSR');
  });

  test('a CSR for the identity key itself is refused: the certificate must be for a new key', async () => {
    const d = await device();
    const csr = fakeOperationalCsr(`04${d.id}`);
    await expectRefused(d, fx.services.attestation.attest(d.id, evidence(d, await nonceFor(d.id), { csr })), 'BAD_CSR');
  });

  test('an image never deployed or allowed is refused', async () => {
    const d = await device();
    const images = [{ ...IMAGE, sha256: 'cd'.repeat(32) }];
    await expectRefused(d, fx.services.attestation.attest(d.id, evidence(d, await nonceFor(d.id), { images })), 'MEASUREMENT_NOT_ALLOWED');
  });

  test('an OS version the platform does not know is refused', async () => {
    const d = await device();
    await expectRefused(d, fx.services.attestation.attest(d.id, evidence(d, await nonceFor(d.id), { osVersion: '99.1' })), 'MEASUREMENT_NOT_ALLOWED');
  });

  test("another tenant's allowed image does not count", async () => {
    const other = await newTenant(fx.services);
    const foreign = { ...IMAGE, imageId: '9a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d' };
    await fx.services.certificates.allowImage(other.admin, foreign);
    const d = await device();
    await expectRefused(d, fx.services.attestation.attest(d.id, evidence(d, await nonceFor(d.id), { images: [foreign] })), 'MEASUREMENT_NOT_ALLOWED');
  });

  test('a signed statement whose OS version holds a NUL (no database stores one) is a BAD_STATEMENT naming the field', async () => {
    const d = await device();
    const outcome = await fx.services.attestation.attest(d.id, evidence(d, await nonceFor(d.id), { osVersion: '24.10\u0000' }));
    expect(outcome).toMatchObject({ ok: false, reason: 'BAD_STATEMENT', message: 'statement/measurements/osVersion: must not contain NUL characters' });
    await expectRefused(d, Promise.resolve(outcome), 'BAD_STATEMENT');
  });

  test('a statement naming another device is refused', async () => {
    const d = await device();
    const other = await device();
    await expectRefused(d, fx.services.attestation.attest(d.id, evidence(d, await nonceFor(d.id), { deviceId: other.id })), 'BAD_STATEMENT');
  });

  test('garbage instead of a statement is refused', async () => {
    const d = await device();
    await expectRefused(d, fx.services.attestation.attest(d.id, { statement: new Uint8Array([0xff, 0x00]), signature: new Uint8Array(64) }), 'BAD_STATEMENT');
  });

  test('an unclaimed device is refused a tenant certificate, and the reason is recorded', async () => {
    const d = await device({ claim: false });
    expect(await fx.services.attestation.attest(d.id, evidence(d, await nonceFor(d.id)))).toMatchObject({ ok: false, reason: 'DEVICE_UNCLAIMED' });
    // Nobody owns it, so the reason is on the (platform-visible) row and in the event; no tenant sees it.
    expect(certificateEvents(d.id).at(-1)).toMatchObject({ kind: 'ATTESTATION_FAILED', reason: 'DEVICE_UNCLAIMED', tenantId: null });
  });

  test('a revoked device is refused', async () => {
    const d = await device();
    await fx.services.certificates.revokeDevice(tenant.admin, d.id, 'stolen');
    expect(await fx.services.attestation.attest(d.id, evidence(d, await nonceFor(d.id)))).toMatchObject({ ok: false, reason: 'DEVICE_REVOKED' });
  });

  test('a device may hold at most 5 unused nonces at once', async () => {
    const d = await device();
    for (let i = 0; i < 5; i++) await nonceFor(d.id);
    expect(await fx.services.attestation.challenge(d.id)).toEqual({ refused: 'RATE_LIMITED' });
    // Expired ones stop counting.
    fx.clock.advance(61_000);
    expect(await fx.services.attestation.challenge(d.id)).toHaveProperty('nonce');
  });

  test('admission accepts an issued certificate by thumbprint until it is revoked', async () => {
    const d = await device();
    const outcome = await fx.services.attestation.attest(d.id, evidence(d, await nonceFor(d.id)));
    if (!outcome.ok) throw new Error('attestation failed');
    const { createHash } = await import('node:crypto');
    const thumbprint = createHash('sha256').update(outcome.certificatePem).digest('hex').toUpperCase();
    expect(await fx.services.presence.admit(d.id, thumbprint)).toMatchObject({ admitted: true, tenantId: tenant.tenantId });
    expect(await fx.services.presence.admit(d.id, 'AB'.repeat(32))).toEqual({ admitted: false, reason: 'CERTIFICATE_MISMATCH' });
    await fx.services.certificates.revokeDevice(tenant.admin, d.id, 'decommissioned');
    expect(await fx.services.presence.admit(d.id, thumbprint)).toEqual({ admitted: false, reason: 'REVOKED' });
  });

  test('admission refuses an issued certificate presented by another device, and any once it has expired', async () => {
    const d = await device();
    const other = await device();
    const outcome = await fx.services.attestation.attest(d.id, evidence(d, await nonceFor(d.id)));
    if (!outcome.ok) throw new Error('attestation failed');
    const { createHash } = await import('node:crypto');
    const thumbprint = createHash('sha256').update(outcome.certificatePem).digest('hex').toUpperCase();
    expect(await fx.services.presence.admit(other.id, thumbprint)).toEqual({ admitted: false, reason: 'CERTIFICATE_MISMATCH' });
    fx.clock.advance(outcome.notAfter.getTime() - fx.clock.now().getTime() - 1000);
    expect(await fx.services.presence.admit(d.id, thumbprint)).toMatchObject({ admitted: true });
    fx.clock.advance(1000);
    expect(await fx.services.presence.admit(d.id, thumbprint)).toEqual({ admitted: false, reason: 'CERTIFICATE_MISMATCH' });
  });

  test('challenge for an unknown device is NOT_FOUND', async () => {
    await expect(fx.services.attestation.challenge('A'.repeat(128))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
