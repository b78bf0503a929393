/**
 * The PKI side of certificate brokering, checked with the real openssl CLI where a relying party would use it:
 * device certificates from tenant CAs, CRLs, successor CAs, proof-of-possession certificates, device signatures.
 */
import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { X509Certificate, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import { DomainError } from '../../domain/shared/errors.js';
import { silentLogger } from '../../domain/shared/logger.js';
import { loadOrCreatePki } from './dev-pki.js';
import type { DevPki } from './pki-service.js';
import { createCsr, generateKeyPair } from './x509.js';

const run = promisify(execFile);

/** `openssl verify` as a relying party runs it: exit status and output. */
async function opensslVerify(args: string[]): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout, stderr } = await run('openssl', ['verify', ...args]);
    return { ok: true, output: stdout + stderr };
  } catch (e) {
    const out = e as { stdout?: string; stderr?: string };
    return { ok: false, output: `${out.stdout ?? ''}${out.stderr ?? ''}` };
  }
}

/** The CSR with one bit of its signature flipped: still parses, no longer verifies. */
function tamperedSignature(pem: string): string {
  const der = Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s/g, ''), 'base64');
  der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0x01;
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}

async function refusalCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (e) {
    if (e instanceof DomainError) return e.code;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('certificate brokering PKI', () => {
  let dir: string;
  let pki: DevPki;
  let tenantA: string;
  let tenantB: string;
  let caA: string;
  let caB: string;
  const deviceId = 'AB'.repeat(64);

  const file = async (name: string, content: string): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, content);
    return path;
  };
  const chainOf = (caPem: string): string => `${caPem.trimEnd()}\n${pki.rootCaPem.trimEnd()}\n`;
  const newCsr = async (): Promise<string> => createCsr(await generateKeyPair(), [{ CN: 'device' }]);
  const issue = (tenantId: string, caSerialNumber: string, csrPem: string, lifetimeSeconds = 86_400) =>
    pki.issueDeviceCertificate({ tenantId, caSerialNumber, deviceId, csrPem, lifetimeSeconds });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sg-brokering-'));
    pki = (await loadOrCreatePki({ dataDir: dir, hostnames: [], serverCertificate: null, log: silentLogger })).pki as DevPki;
    tenantA = randomUUID();
    tenantB = randomUUID();
    caA = (await pki.createTenantCa(tenantA, 'Tenant A')).serialNumber;
    caB = (await pki.createTenantCa(tenantB, 'Tenant B')).serialNumber;
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('a device certificate chains to its tenant CA and the root (openssl verify), with both IDs and TLS usages', async () => {
    const issued = await issue(tenantA, caA, await newCsr(), 3600);
    const chain = await file('chain-a.pem', chainOf((await pki.createTenantCa(tenantA, 'Tenant A')).certificatePem));
    const leaf = await file('device-a.pem', issued.certificatePem);
    const verdict = await opensslVerify(['-CAfile', chain, '-purpose', 'sslclient', leaf]);
    expect(verdict).toMatchObject({ ok: true });
    expect(verdict.output).toContain('OK');

    const cert = new X509Certificate(issued.certificatePem);
    expect(cert.subjectAltName).toContain(`URI:urn:spheregate:device:${deviceId}`);
    expect(cert.subjectAltName).toContain(`URI:urn:spheregate:tenant:${tenantA}`);
    expect(cert.subject).toContain(`CN=${deviceId.slice(0, 64)}`);
    expect(cert.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.2', '1.3.6.1.5.5.7.3.1']));
    expect(cert.ca).toBe(false);
    // The lifetime runs from now: notAfter - (notBefore + skew allowance) = 3600 s.
    expect(issued.notAfter.getTime() - issued.notBefore.getTime()).toBe(3600_000 + 5 * 60_000);
  });

  test("another tenant's chain does not verify it", async () => {
    const issued = await issue(tenantA, caA, await newCsr());
    const chainB = await file('chain-b.pem', chainOf((await pki.createTenantCa(tenantB, 'Tenant B')).certificatePem));
    expect(await opensslVerify(['-CAfile', chainB, await file('device-a2.pem', issued.certificatePem)])).toMatchObject({ ok: false });
  });

  test('a CRL listing the certificate makes openssl refuse it; one without it does not', async () => {
    const issued = await issue(tenantA, caA, await newCsr());
    const other = await issue(tenantA, caA, await newCsr());
    const now = new Date();
    const next = new Date(now.getTime() + 7 * 86_400_000);
    const chain = await file('chain-a3.pem', chainOf((await pki.createTenantCa(tenantA, 'Tenant A')).certificatePem));
    const leaf = await file('device-a3.pem', issued.certificatePem);

    const listing = await pki.signCrl({ tenantId: tenantA, caSerialNumber: caA, crlNumber: 2, revoked: [{ serialNumber: issued.serialNumber, revokedAt: now }], thisUpdate: now, nextUpdate: next });
    expect(listing).toContain('-----BEGIN X509 CRL-----');
    const refused = await opensslVerify(['-CAfile', chain, '-crl_check', '-CRLfile', await file('crl-1.pem', listing), leaf]);
    expect(refused.ok).toBe(false);
    expect(refused.output).toContain('certificate revoked');

    const notListing = await pki.signCrl({ tenantId: tenantA, caSerialNumber: caA, crlNumber: 3, revoked: [{ serialNumber: other.serialNumber, revokedAt: now }], thisUpdate: now, nextUpdate: next });
    expect(await opensslVerify(['-CAfile', chain, '-crl_check', '-CRLfile', await file('crl-2.pem', notListing), leaf])).toMatchObject({ ok: true });

    const { stdout } = await run('openssl', ['crl', '-in', await file('crl-3.pem', listing), '-noout', '-text']);
    expect(stdout).toContain('X509v3 CRL Number');
    expect(stdout).toMatch(/CRL Number:\s*\n\s*2/);
    expect(stdout).toContain(`Serial Number: ${issued.serialNumber}`);
  });

  test('a successor CA signs too, and both survive a restart over the same data dir', async () => {
    const successor = await pki.createSuccessorTenantCa(tenantA, 'Tenant A');
    expect(successor.serialNumber).not.toBe(caA);
    const reloaded = (await loadOrCreatePki({ dataDir: dir, hostnames: [], serverCertificate: null, log: silentLogger })).pki;
    for (const serial of [caA, successor.serialNumber]) {
      const issued = await reloaded.issueDeviceCertificate({ tenantId: tenantA, caSerialNumber: serial, deviceId, csrPem: await newCsr(), lifetimeSeconds: 60 });
      expect(new X509Certificate(issued.certificatePem).issuer).toBe(
        new X509Certificate(serial === caA ? (await pki.createTenantCa(tenantA, 'Tenant A')).certificatePem : successor.certificatePem).subject,
      );
    }
  });

  test('refuses an unknown CA (NOT_FOUND), a CA of another tenant, a bad CSR and a bad lifetime (BAD_USER_INPUT)', async () => {
    const csr = await newCsr();
    expect(await refusalCode(issue(tenantA, 'ABCDEF', csr))).toBe('NOT_FOUND');
    expect(await refusalCode(issue(tenantA, caB, csr))).toBe('NOT_FOUND');
    expect(await refusalCode(issue(tenantA, caA, tamperedSignature(csr)))).toBe('BAD_USER_INPUT');
    expect(await refusalCode(issue(tenantA, caA, csr, 0))).toBe('BAD_USER_INPUT');
  });

  test('a proof-of-possession certificate carries the code and verifies against the tenant CA', async () => {
    const pop = await pki.issueProofOfPossession({ tenantId: tenantA, caSerialNumber: caA, verificationCode: 'A1B2-C3D4' });
    const cert = new X509Certificate(pop.certificatePem);
    expect(cert.subject).toBe('CN=A1B2-C3D4');
    const ca = new X509Certificate((await pki.createTenantCa(tenantA, 'Tenant A')).certificatePem);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(await refusalCode(pki.issueProofOfPossession({ tenantId: tenantA, caSerialNumber: caA, verificationCode: 'CN=evil,O=x' }))).toBe('BAD_USER_INPUT');
  });

  test('checkCsr gives the key of a good CSR and a reason for a bad one, never throwing', async () => {
    const keys = await generateKeyPair();
    const good = await pki.checkCsr(await createCsr(keys, [{ CN: 'x' }]));
    expect(good).toMatchObject({ ok: true });
    expect(good.ok && good.publicKeyHex).toMatch(/^04[0-9A-F]{128}$/);
    expect(await pki.checkCsr('not a csr')).toMatchObject({ ok: false });
    expect(await pki.checkCsr('x'.repeat(100_000))).toMatchObject({ ok: false });
  });

  test('verifyDeviceSignature: true for the key that signed, false for another key, a tampered message or garbage', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const jwk = publicKey.export({ format: 'jwk' });
    const hex = `04${Buffer.from(String(jwk.x), 'base64url').toString('hex')}${Buffer.from(String(jwk.y), 'base64url').toString('hex')}`.toUpperCase();
    const data = new TextEncoder().encode('{"nonce":"n"}');
    const signature = new Uint8Array(sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' }));
    expect(await pki.verifyDeviceSignature(hex, data, signature)).toBe(true);
    expect(await pki.verifyDeviceSignature(hex, new TextEncoder().encode('{"nonce":"m"}'), signature)).toBe(false);
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    expect(await pki.verifyDeviceSignature(hex, data, new Uint8Array(sign('sha256', data, { key: other, dsaEncoding: 'ieee-p1363' })))).toBe(false);
    expect(await pki.verifyDeviceSignature('04ZZ', data, signature)).toBe(false);
    expect(await pki.verifyDeviceSignature(`04${'00'.repeat(64)}`, data, signature)).toBe(false);
    expect(await pki.verifyDeviceSignature(hex, data, new Uint8Array(10))).toBe(false);
  });
});
