import 'reflect-metadata';
import { X509Certificate as NodeX509Certificate, webcrypto } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { deviceIdFromPublicKey, deviceIdUri } from '../../contract/identity.js';
import type { Clock } from '../../domain/shared/clock.js';
import { DomainError } from '../../domain/shared/errors.js';
import { silentLogger } from '../../domain/shared/logger.js';
import {
  makeBadDeviceIdentities,
  makeDeviceIdentity,
  makeTestPki,
  type BadDeviceIdentities,
  type TestPki,
} from '../../test/fixtures/pki.js';
import { KeyStore } from './key-store.js';
import { DevPki } from './pki-service.js';
import { createCsr, generateKeyPair, publicKeyPoint, subjectAltNameUris } from './x509.js';

const DAY = 86_400_000;
const YEAR = 365.25 * DAY;

/** A clock the test moves by hand. */
class ManualClock implements Clock {
  constructor(private at = new Date()) {}
  now(): Date {
    return this.at;
  }
  advance(ms: number): void {
    this.at = new Date(this.at.getTime() + ms);
  }
}

async function refusal(promise: Promise<unknown>): Promise<DomainError> {
  try {
    await promise;
  } catch (e) {
    if (e instanceof DomainError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('DevPki (the Pki port)', () => {
  let dir: string;
  let testPki: TestPki;
  let clock: ManualClock;
  let pki: DevPki;
  let bad: BadDeviceIdentities;

  beforeAll(async () => {
    testPki = await makeTestPki();
    bad = await makeBadDeviceIdentities(testPki.manufacturingCa);
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spheregate-pki-service-'));
    clock = new ManualClock();
    pki = new DevPki({
      store: await KeyStore.open(join(dir, 'pki')),
      root: testPki.root,
      manufacturingCa: testPki.manufacturingCa,
      clock,
      log: silentLogger,
    });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('tenant CAs', () => {
    const tenantId = '3f1e2d4c-5b6a-4789-8abc-def012345678';

    it('makes a CA that chains to the platform root, is valid about two years and may sign leaves only', async () => {
      const facts = await pki.createTenantCa(tenantId, 'Contoso, Ltd.');
      const tenantCa = new NodeX509Certificate(facts.certificatePem);
      const root = new NodeX509Certificate(testPki.root.certificatePem);
      expect(tenantCa.verify(root.publicKey)).toBe(true);
      expect(tenantCa.checkIssued(root)).toBe(true);
      expect(tenantCa.ca).toBe(true);
      const constraints = new x509.X509Certificate(facts.certificatePem).getExtension(x509.BasicConstraintsExtension);
      expect(constraints?.pathLength).toBe(0);
      const lifetime = facts.notAfter.getTime() - facts.notBefore.getTime();
      expect(Math.abs(lifetime - 2 * YEAR)).toBeLessThan(2 * DAY);
      expect(facts.issuer).toBe(new x509.X509Certificate(testPki.root.certificatePem).subject);
      expect(facts.subject).toContain('CN=Contoso\\, Ltd.');
      expect(facts.serialNumber).toMatch(/^[0-9A-F]+$/);
      expect(facts.sha256Thumbprint).toBe(tenantCa.fingerprint256.replaceAll(':', ''));
    });

    it('keeps the key at pki/tenants/<tenantId>.key.pem, readable by the owner only, and returns the same CA again', async () => {
      const first = await pki.createTenantCa(tenantId, 'Contoso');
      const keyFile = join(dir, 'pki', 'tenants', `${tenantId}.key.pem`);
      expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
      expect((await stat(join(dir, 'pki', 'tenants'))).mode & 0o777).toBe(0o700);
      expect(new NodeX509Certificate(first.certificatePem).checkPrivateKey(await importNodeKey(keyFile))).toBe(true);
      const [again, concurrent] = await Promise.all([
        pki.createTenantCa(tenantId, 'Contoso'),
        pki.createTenantCa(tenantId, 'Contoso'),
      ]);
      expect(again).toEqual(first);
      expect(concurrent).toEqual(first);
    });

    it('When the tenant id could escape the key directory, then it is refused as BAD_USER_INPUT', async () => {
      for (const id of ['../root-ca', 'a/b', '']) {
        const error = await refusal(pki.createTenantCa(id, 'x'));
        expect(error.code).toBe('BAD_USER_INPUT');
      }
    });
  });

  describe('identity issuance', () => {
    it('derives the device id from the CSR key and signs a 20-year clientAuth identity with the manufacturing CA', async () => {
      const keys = await generateKeyPair();
      const expectedId = deviceIdFromPublicKey(await publicKeyPoint(keys.publicKey));
      const identity = await pki.issueIdentityCertificate(await createCsr(keys, 'CN=whatever the device says'));

      expect(identity.deviceId).toBe(expectedId);
      expect(identity.subject).toBe(`CN=${expectedId.slice(0, 64)}, O=Spheregate devices`);
      expect(subjectAltNameUris(identity.certificatePem)).toEqual([deviceIdUri(expectedId)]);
      const certificate = new NodeX509Certificate(identity.certificatePem);
      expect(certificate.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
      expect(certificate.verify(new NodeX509Certificate(testPki.manufacturingCa.certificatePem).publicKey)).toBe(true);
      expect(Math.abs(identity.notAfter.getTime() - identity.notBefore.getTime() - 20 * YEAR)).toBeLessThan(2 * DAY);
      await expect(pki.verifyIdentityCertificate(identity.certificatePem)).resolves.toMatchObject({ deviceId: expectedId });
    });

    it('When the CSR signature does not verify, then it is refused as BAD_USER_INPUT', async () => {
      const csr = await createCsr(await generateKeyPair(), 'CN=device');
      const der = Buffer.from(x509.PemConverter.decodeFirst(csr));
      // The last byte belongs to the signature's S value: the request still parses, the proof of possession fails.
      der[der.length - 1] = (der[der.length - 1] ?? 0) ^ 0x01;
      const error = await refusal(pki.issueIdentityCertificate(x509.PemConverter.encode(der, 'CERTIFICATE REQUEST')));
      expect(error.code).toBe('BAD_USER_INPUT');
      expect(error.message).toMatch(/signature/);
    });

    it('When the CSR key is not P-256, then it is refused as BAD_USER_INPUT', async () => {
      const p384 = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify']);
      const error = await refusal(pki.issueIdentityCertificate(await createCsr(p384, 'CN=device')));
      expect(error.code).toBe('BAD_USER_INPUT');
      expect(error.message).toMatch(/P-256/);

      const rsa = await webcrypto.subtle.generateKey(
        { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
        true,
        ['sign', 'verify'],
      );
      const rsaCsr = (await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=rsa', keys: rsa, signingAlgorithm: rsa.privateKey.algorithm })).toString('pem');
      expect((await refusal(pki.issueIdentityCertificate(rsaCsr))).code).toBe('BAD_USER_INPUT');
    });

    it('When the CSR is not a CSR at all, then it is refused as BAD_USER_INPUT', async () => {
      expect((await refusal(pki.issueIdentityCertificate('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----'))).code).toBe(
        'BAD_USER_INPUT',
      );
      expect((await refusal(pki.issueIdentityCertificate('x'.repeat(20_000)))).code).toBe('BAD_USER_INPUT');
    });
  });

  describe('identity verification', () => {
    it('accepts a good identity from the manufacturing CA', async () => {
      const good = await makeDeviceIdentity(testPki.manufacturingCa);
      const verified = await pki.verifyIdentityCertificate(good.certificatePem);
      expect(verified.deviceId).toBe(good.deviceId);
      expect(verified.issuer).toBe(new x509.X509Certificate(testPki.manufacturingCa.certificatePem).subject);
    });

    it('When the certificate comes from a rogue CA, then it is refused', async () => {
      const error = await refusal(pki.verifyIdentityCertificate(bad.fromRogueCa.certificatePem));
      expect(error.code).toBe('BAD_USER_INPUT');
      expect(error.message).toMatch(/manufacturing CA/);
    });

    it('When the certificate has expired, then it is refused', async () => {
      const error = await refusal(pki.verifyIdentityCertificate(bad.expired.certificatePem));
      expect(error.code).toBe('BAD_USER_INPUT');
      expect(error.message).toMatch(/expired/);
    });

    it('When the SAN names another key, then it is refused', async () => {
      const error = await refusal(pki.verifyIdentityCertificate(bad.sanDoesNotMatchKey.certificatePem));
      expect(error.code).toBe('BAD_USER_INPUT');
      expect(error.message).toMatch(/does not match/);
    });

    it('When the clock passes the end of an issued identity, then the same certificate is refused', async () => {
      const identity = await pki.issueIdentityCertificate(await createCsr(await generateKeyPair(), 'CN=d'));
      clock.advance(21 * YEAR);
      expect((await refusal(pki.verifyIdentityCertificate(identity.certificatePem))).message).toMatch(/expired/);
    });

    it('When the input is not a certificate, then it is refused', async () => {
      expect((await refusal(pki.verifyIdentityCertificate('nonsense'))).code).toBe('BAD_USER_INPUT');
    });
  });
});

async function importNodeKey(path: string) {
  const { createPrivateKey } = await import('node:crypto');
  return createPrivateKey(await readFile(path, 'utf8'));
}
