/**
 * Certificate management in the domain: revocation and its CRL, the tenant CA lifecycle (rotation by hand and ahead
 * of expiry), certificate health for every value and as a listing filter, and who may do what.
 */
import { sign } from 'node:crypto';
import type { CertificateHealth } from '../../domain/views.js';
import { TEST_DATABASES } from '../db.js';
import { newDeviceKey } from '../fakes/device-keys.js';
import { fakeCrlEntries, fakeCsr, fakeOperationalCsr } from '../fakes/fake-pki.js';
import { PLATFORM, errorCodeOf, newTenant, openDomainFixture, refusalOf, type DomainFixture, type TestTenant } from './domain-fixture.js';

const DAY = 86_400_000;
const SYSTEM = { kind: 'system' } as const;
const LIFETIME_SECONDS = 3600;


describe.each(TEST_DATABASES)('certificate management on %s', (kind) => {
  let fx: DomainFixture;

  beforeAll(async () => {
    fx = await openDomainFixture(kind, { deviceCertificateLifetimeSeconds: LIFETIME_SECONDS });
    await fx.services.certificates.registerOsRelease(PLATFORM, '24.10');
  });
  afterAll(async () => {
    await fx.dispose();
  });

  /** A device of the tenant; `certify` runs one successful attestation and returns its serial. */
  async function device(t: TestTenant, opts: { certify?: boolean } = {}): Promise<{ id: string; serialNumber: string | null; attest: () => Promise<unknown> }> {
    const key = newDeviceKey();
    const id = key.pointHex.slice(2);
    await fx.services.devices.manufactureDevices(PLATFORM, [fakeCsr(id)]);
    await fx.services.devices.claimDevices(t.admin, [id]);
    const attest = async () => {
      const challenge = await fx.services.attestation.challenge(id);
      if (!('nonce' in challenge)) throw new Error('no nonce');
      const statement = Buffer.from(
        JSON.stringify({ v: 1, nonce: challenge.nonce, deviceId: id, measurements: { osVersion: '24.10', images: [] }, csr: fakeOperationalCsr(newDeviceKey().pointHex) }),
      );
      const signature = sign('sha256', statement, { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
      return fx.services.attestation.attest(id, { statement: new Uint8Array(statement), signature: new Uint8Array(signature) });
    };
    let serialNumber: string | null = null;
    if (opts.certify) {
      const outcome = await attest();
      if (!outcome || typeof outcome !== 'object' || !('ok' in outcome) || !outcome.ok) throw new Error('attestation failed');
      serialNumber = (outcome as { serialNumber: string }).serialNumber;
    }
    return { id, serialNumber, attest };
  }

  describe('revocation', () => {
    test('revokes the device and its certificates, re-signs the CRL with them listed, and can be undone', async () => {
      const t = await newTenant(fx.services);
      const d = await device(t, { certify: true });
      const bystander = await device(t, { certify: true });
      const revoked = await fx.services.certificates.revokeDevice(t.admin, d.id, '  stolen from the depot ');
      expect(revoked).toMatchObject({ certificateHealth: 'REVOKED', revocationReason: 'stolen from the depot' });

      const crls = await fx.services.certificates.crls(t.tenantId);
      const [tenantCrl, rootCrl] = crls.match(/-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----/g) ?? [];
      expect(fakeCrlEntries(tenantCrl ?? '')).toMatchObject({ serials: [d.serialNumber] });
      expect(fakeCrlEntries(rootCrl ?? '').caSerialNumber).toBe('ROOT');
      const crlNumber = fakeCrlEntries(tenantCrl ?? '').crlNumber;

      // Idempotent: revoking again changes nothing and signs no new CRL.
      await fx.services.certificates.revokeDevice(t.admin, d.id, 'again');
      expect(fakeCrlEntries((await fx.services.certificates.crls(t.tenantId)).split('-----END X509 CRL-----')[0] ?? '').crlNumber).toBe(crlNumber);

      const restored = await fx.services.certificates.restoreDevice(t.admin, d.id);
      expect(restored).toMatchObject({ certificateHealth: 'NEVER_ISSUED', revokedAt: null, certificate: null });
      expect(await d.attest()).toMatchObject({ ok: true });
      // The bystander was never touched.
      expect((await fx.services.devices.getDevice(t.admin, bystander.id)).certificateHealth).toBe('OK');
      const kinds = fx.events.filter((e) => e.type === 'CertificateChanged' && e.deviceId === d.id).map((e) => (e.type === 'CertificateChanged' ? e.kind : ''));
      expect(kinds).toEqual(['ISSUED', 'REVOKED', 'RESTORED', 'ISSUED']);
    });

    test('only an Administrator of the owning tenant: Reader and Contributor FORBIDDEN, a stranger NOT_FOUND, a reason is required', async () => {
      const t = await newTenant(fx.services);
      const stranger = await newTenant(fx.services);
      const d = await device(t);
      for (const role of ['Reader', 'Contributor'] as const) {
        const actor = await t.actorWithRole(role);
        expect(await errorCodeOf(fx.services.certificates.revokeDevice(actor, d.id, 'x'))).toBe('FORBIDDEN');
        expect(await errorCodeOf(fx.services.certificates.restoreDevice(actor, d.id))).toBe('FORBIDDEN');
      }
      expect(await errorCodeOf(fx.services.certificates.revokeDevice(stranger.admin, d.id, 'x'))).toBe('NOT_FOUND');
      expect(await errorCodeOf(fx.services.certificates.revokeDevice(t.admin, d.id, '   '))).toBe('BAD_USER_INPUT');
      expect(await errorCodeOf(fx.services.certificates.revokeDevice(null, d.id, 'x'))).toBe('UNAUTHENTICATED');
      expect(await errorCodeOf(fx.services.certificates.revokeDevice(PLATFORM, d.id, 'x'))).toBe('FORBIDDEN');
    });

    test('a reason with a NUL (no database stores one) is BAD_USER_INPUT naming the field; the device stays unrevoked', async () => {
      const t = await newTenant(fx.services);
      const d = await device(t);
      expect(await refusalOf(fx.services.certificates.revokeDevice(t.admin, d.id, 'stolen\u0000'))).toEqual({ code: 'BAD_USER_INPUT', message: 'reason: must not contain NUL characters' });
      expect((await fx.services.devices.getDevice(t.admin, d.id)).revokedAt).toBeNull();
    });

    test('the CRL of an unknown tenant is NOT_FOUND', async () => {
      expect(await errorCodeOf(fx.services.certificates.crls('00000000-0000-4000-8000-000000000000'))).toBe('NOT_FOUND');
      expect(await errorCodeOf(fx.services.certificates.crls('../etc'))).toBe('NOT_FOUND');
    });
  });

  describe('tenant CA lifecycle', () => {
    test('rotation: the successor signs at once, the old CA stays in the chain as Inactive until it expires', async () => {
      const t = await newTenant(fx.services);
      const [first] = await fx.services.certificates.listTenantCas(t.admin);
      const successor = await fx.services.certificates.rotateTenantCa(t.admin);
      expect(successor.status).toBe('Active');
      const listed = await fx.services.certificates.listTenantCas(t.admin);
      expect(listed.map((c) => [c.serialNumber, c.status])).toEqual([
        [successor.serialNumber, 'Active'],
        [first?.serialNumber, 'Inactive'],
      ]);
      const chain = await fx.services.certificates.caCertificateChain(t.admin);
      expect(chain.indexOf(successor.certificatePem.trim())).toBeLessThan(chain.indexOf(first?.certificatePem.trim() ?? '-'));
      expect(chain.trim().endsWith(fx.pki.rootCaPem.trim())).toBe(true);
      const d = await device(t, { certify: true });
      expect(fx.pki.issued.find((i) => i.serialNumber === d.serialNumber)?.caSerialNumber).toBe(successor.serialNumber);
      expect(await errorCodeOf(fx.services.certificates.rotateTenantCa(await t.actorWithRole('Contributor')))).toBe('FORBIDDEN');
    });

    test('two rotations of the same CA at once: one succeeds, the other is a CONFLICT', async () => {
      const t = await newTenant(fx.services);
      const outcomes = await Promise.allSettled([fx.services.certificates.rotateTenantCa(t.admin), fx.services.certificates.rotateTenantCa(t.admin)]);
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      const rejected = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
      expect(rejected?.reason).toMatchObject({ code: 'CONFLICT' });
      expect(await fx.services.certificates.listTenantCas(t.admin)).toHaveLength(2);
    });

    test('automatic rotation: a successor at the lead time, active after the delay, once; the expired CA drops out of the chain', async () => {
      const t = await newTenant(fx.services);
      const [original] = await fx.services.certificates.listTenantCas(t.admin);
      if (!original) throw new Error('no CA');
      expect((await fx.services.certificates.rotateDueCas(SYSTEM)).created).toBe(0);
      const untilLead = original.notAfter.getTime() - fx.clock.now().getTime() - 90 * DAY;
      fx.clock.advance(untilLead + 1000);
      // Two nodes sweeping at once make one successor between them (every tenant of this file is due by now,
      // so the count is checked on this tenant's CAs).
      await Promise.all([fx.services.certificates.rotateDueCas(SYSTEM), fx.services.certificates.rotateDueCas(SYSTEM)]);
      const afterSweep = await fx.services.certificates.listTenantCas(t.admin);
      expect(afterSweep).toHaveLength(2);
      const successor = afterSweep[0];
      expect(successor?.status).toBe('Inactive');
      expect(afterSweep[1]?.status).toBe('Active');
      expect(successor?.activeFrom.getTime()).toBe(fx.clock.now().getTime() + 45 * DAY);
      // Idempotent: a second sweep (say, on another node) makes no third CA.
      await fx.services.certificates.rotateDueCas(SYSTEM);
      expect(await fx.services.certificates.listTenantCas(t.admin)).toHaveLength(2);

      fx.clock.advance(45 * DAY);
      expect((await fx.services.certificates.listTenantCas(t.admin)).map((c) => c.status)).toEqual(['Active', 'Inactive']);
      fx.clock.advance(46 * DAY);
      const late = await fx.services.certificates.listTenantCas(t.admin);
      expect(late.map((c) => c.status)).toEqual(['Active', 'Expired']);
      const chain = await fx.services.certificates.caCertificateChain(t.admin);
      expect(chain).not.toContain(original.certificatePem.trim());
      expect(await errorCodeOf(fx.services.certificates.rotateDueCas(t.admin))).toBe('FORBIDDEN');
    });

    test('proof of possession: CN = the code, from the active CA; a malformed code is BAD_USER_INPUT', async () => {
      const t = await newTenant(fx.services);
      const pem = await fx.services.certificates.proofOfPossessionCertificate(await t.actorWithRole('Reader'), 'ABC-123');
      expect(Buffer.from(pem.split('\n')[1] ?? '', 'base64').toString('utf8')).toBe('pop:ABC-123');
      expect(await errorCodeOf(fx.services.certificates.proofOfPossessionCertificate(t.admin, 'CN=x,O=y'))).toBe('BAD_USER_INPUT');
    });
  });

  describe('certificate health', () => {
    test('every value, and the listing filter returns exactly the devices of that health', async () => {
      const t = await newTenant(fx.services);
      const never = await device(t);
      const ok = await device(t, { certify: true });
      const revoked = await device(t, { certify: true });
      await fx.services.certificates.revokeDevice(t.admin, revoked.id, 'lost');
      const failed = await device(t);
      const challenge = await fx.services.attestation.challenge(failed.id);
      if (!('nonce' in challenge)) throw new Error('no nonce');
      await fx.services.attestation.attest(failed.id, { statement: new Uint8Array(Buffer.from('{}')), signature: new Uint8Array(64) });

      const expected: Record<string, CertificateHealth> = {
        [never.id]: 'NEVER_ISSUED',
        [ok.id]: 'OK',
        [revoked.id]: 'REVOKED',
        [failed.id]: 'ATTESTATION_FAILED',
      };
      const check = async (): Promise<void> => {
        for (const [id, health] of Object.entries(expected)) expect((await fx.services.devices.getDevice(t.admin, id)).certificateHealth).toBe(health);
        for (const health of ['OK', 'EXPIRING', 'EXPIRED', 'ATTESTATION_FAILED', 'REVOKED', 'NEVER_ISSUED'] as const) {
          const page = await fx.services.devices.listDevices(t.admin, { certificateHealth: health }, { first: 50 });
          const want = Object.keys(expected).filter((id) => expected[id] === health).sort();
          expect({ health, ids: page.items.map((d) => d.id) }).toEqual({ health, ids: want });
          expect(page.totalCount).toBe(want.length);
        }
      };
      await check();

      // At 75 % of its lifetime it is still OK (agents renew at 60-80 %); past 80 %, EXPIRING; past notAfter, EXPIRED.
      fx.clock.advance((LIFETIME_SECONDS * 1000 * 3) / 4);
      await check();
      fx.clock.advance((LIFETIME_SECONDS * 1000) / 10);
      expected[ok.id] = 'EXPIRING';
      await check();
      fx.clock.advance(LIFETIME_SECONDS * 1000);
      expected[ok.id] = 'EXPIRED';
      await check();
      expect(await errorCodeOf(fx.services.devices.listDevices(t.admin, { certificateHealth: 'SHAKY' as CertificateHealth }, { first: 5 }))).toBe('BAD_USER_INPUT');
    });
  });

  describe('measurements', () => {
    test('allowImage is idempotent, tenant-scoped and Administrator-only; OS releases are the platform operator\'s', async () => {
      const t = await newTenant(fx.services);
      const other = await newTenant(fx.services);
      const image = { componentId: '1F2E3D4C-5B6A-4978-8695-A4B3C2D1E0F9', imageId: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', sha256: 'ab'.repeat(32) };
      const first = await fx.services.certificates.allowImage(t.admin, image);
      expect(first).toMatchObject({ componentId: image.componentId.toLowerCase(), sha256: 'AB'.repeat(32) });
      expect(await fx.services.certificates.allowImage(t.admin, image)).toEqual(first);
      expect(await fx.services.certificates.listAllowedImages(t.admin)).toHaveLength(1);
      expect(await fx.services.certificates.listAllowedImages(other.admin)).toHaveLength(0);
      expect(await errorCodeOf(fx.services.certificates.allowImage(await t.actorWithRole('Contributor'), image))).toBe('FORBIDDEN');
      expect(await errorCodeOf(fx.services.certificates.allowImage(t.admin, { ...image, sha256: 'xyz' }))).toBe('BAD_USER_INPUT');

      expect(await errorCodeOf(fx.services.certificates.registerOsRelease(t.admin, '25.01'))).toBe('FORBIDDEN');
      expect(await errorCodeOf(fx.services.certificates.registerOsRelease(PLATFORM, 'no spaces please'))).toBe('BAD_USER_INPUT');
      const release = await fx.services.certificates.registerOsRelease(PLATFORM, '25.01');
      expect(await fx.services.certificates.registerOsRelease(SYSTEM, '25.01')).toEqual(release);
      expect((await fx.services.certificates.listOsReleases(t.admin)).map((r) => r.version)).toEqual(expect.arrayContaining(['24.10', '25.01']));
    });
  });
});
