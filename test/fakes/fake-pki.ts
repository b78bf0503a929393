/**
 * A stand-in PKI for domain tests, so they depend on no certificate machinery (infra/pki is tested on its own,
 * and end to end). Its identity "CSR" is a PEM-shaped wrapper around a device ID; its operational "CSR" wraps a
 * public key (fakeOperationalCsr). Device signatures, though, are checked with real ECDSA, so attestation tests
 * sign with real keys.
 */
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { badInput, notFound } from '../../domain/shared/errors.js';
import type { CertificateFacts, CsrCheck, DeviceIdentity, Pki, RevokedEntry } from '../../domain/pki/pki.port.js';

const CSR_PATTERN = /^-----BEGIN FAKE CSR-----\n([0-9A-F]{128})\n-----END FAKE CSR-----$/;
const DAY_MS = 24 * 3600 * 1000;

export const randomDeviceId = (): string => randomBytes(64).toString('hex').toUpperCase();

/** An operational-key CSR the fake accepts (`valid: false`: one whose own signature "fails"). */
export const fakeOperationalCsr = (publicKeyHex: string, valid = true): string =>
  `-----BEGIN CERTIFICATE REQUEST-----\nFAKE ${publicKeyHex} ${valid ? 'SIGNED' : 'BADSIG'}\n-----END CERTIFICATE REQUEST-----\n`;
const OPERATIONAL_CSR = /^-----BEGIN CERTIFICATE REQUEST-----\nFAKE (04[0-9A-F]{128}) (SIGNED|BADSIG)\n-----END CERTIFICATE REQUEST-----$/;

/** What the fake "signs" into a CRL: readable by tests with fakeCrlEntries. */
export const fakeCrlEntries = (pem: string): { caSerialNumber: string; crlNumber: number; serials: string[] } =>
  JSON.parse(Buffer.from(pem.replace(/-----[A-Z0-9 ]+-----/g, '').trim(), 'base64').toString('utf8')) as {
    caSerialNumber: string;
    crlNumber: number;
    serials: string[];
  };
export const fakeCsr = (deviceId: string): string => `-----BEGIN FAKE CSR-----\n${deviceId}\n-----END FAKE CSR-----`;

const sha256Hex = (s: string): string => createHash('sha256').update(s).digest('hex').toUpperCase();

function facts(subject: string, issuer: string, body: string, notBefore: Date, days: number): CertificateFacts {
  const certificatePem = `-----BEGIN CERTIFICATE-----\n${Buffer.from(body).toString('base64')}\n-----END CERTIFICATE-----\n`;
  return {
    certificatePem,
    serialNumber: randomBytes(16).toString('hex').toUpperCase(),
    notBefore,
    notAfter: new Date(notBefore.getTime() + days * DAY_MS),
    subject,
    issuer,
    sha256Thumbprint: sha256Hex(certificatePem),
    sha1Thumbprint: createHash('sha1').update(certificatePem).digest('hex').toUpperCase(),
  };
}

export class FakePki implements Pki {
  /** Tenant CAs made, in order (tests check that createTenant asked for one). */
  readonly tenantCas: Array<{ tenantId: string; tenantName: string }> = [];

  constructor(private readonly now: () => Date = () => new Date()) {}

  readonly rootCaPem = '-----BEGIN CERTIFICATE-----\nRkFLRSBST09U\n-----END CERTIFICATE-----\n';
  /** Serial -> tenant of every CA made, so issuing with an unknown CA fails as the real one does. */
  private readonly caTenants = new Map<string, string>();
  /** Serials of the certificates each issuing call returned, in order. */
  readonly issued: Array<{ caSerialNumber: string; deviceId: string; serialNumber: string }> = [];

  async createTenantCa(tenantId: string, tenantName: string): Promise<CertificateFacts> {
    this.tenantCas.push({ tenantId, tenantName });
    return this.newCa(tenantId, tenantName);
  }

  async createSuccessorTenantCa(tenantId: string, tenantName: string): Promise<CertificateFacts> {
    return this.newCa(tenantId, tenantName);
  }

  async checkCsr(csrPem: string): Promise<CsrCheck> {
    const match = OPERATIONAL_CSR.exec(csrPem.trim());
    if (!match) return { ok: false, reason: 'not a PKCS#10 certificate signing request' };
    if (match[2] !== 'SIGNED') return { ok: false, reason: 'the CSR signature does not verify' };
    return { ok: true, publicKeyHex: match[1] ?? '' };
  }

  async verifyDeviceSignature(publicKeyHex: string, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
    try {
      const point = Buffer.from(publicKeyHex, 'hex');
      const key = createPublicKey({
        format: 'jwk',
        key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33, 65).toString('base64url') },
      });
      return verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
    } catch {
      return false;
    }
  }

  async issueDeviceCertificate(input: { tenantId: string; caSerialNumber: string; deviceId: string; csrPem: string; lifetimeSeconds: number }): Promise<CertificateFacts> {
    if (this.caTenants.get(input.caSerialNumber) !== input.tenantId) throw notFound('TenantCa', input.caSerialNumber);
    const csr = await this.checkCsr(input.csrPem);
    if (!csr.ok) throw badInput('csr', csr.reason);
    const now = this.now();
    const cert = facts(`CN=${input.deviceId.slice(0, 64)}`, `CA ${input.caSerialNumber}`, `device:${input.deviceId}:${randomBytes(8).toString('hex')}`, now, 0);
    const issued = { ...cert, notAfter: new Date(now.getTime() + input.lifetimeSeconds * 1000) };
    this.issued.push({ caSerialNumber: input.caSerialNumber, deviceId: input.deviceId, serialNumber: issued.serialNumber });
    return issued;
  }

  async issueProofOfPossession(input: { tenantId: string; caSerialNumber: string; verificationCode: string }): Promise<CertificateFacts> {
    if (this.caTenants.get(input.caSerialNumber) !== input.tenantId) throw notFound('TenantCa', input.caSerialNumber);
    return facts(`CN=${input.verificationCode}`, `CA ${input.caSerialNumber}`, `pop:${input.verificationCode}`, this.now(), 1);
  }

  async rootCrl(): Promise<string> {
    const body = JSON.stringify({ caSerialNumber: 'ROOT', crlNumber: 1, serials: [] });
    return `-----BEGIN X509 CRL-----\n${Buffer.from(body).toString('base64')}\n-----END X509 CRL-----\n`;
  }

  async signCrl(input: { tenantId: string; caSerialNumber: string; crlNumber: number; revoked: readonly RevokedEntry[] }): Promise<string> {
    if (this.caTenants.get(input.caSerialNumber) !== input.tenantId) throw notFound('TenantCa', input.caSerialNumber);
    const body = JSON.stringify({ caSerialNumber: input.caSerialNumber, crlNumber: input.crlNumber, serials: input.revoked.map((r) => r.serialNumber) });
    return `-----BEGIN X509 CRL-----\n${Buffer.from(body).toString('base64')}\n-----END X509 CRL-----\n`;
  }

  private newCa(tenantId: string, tenantName: string): CertificateFacts {
    const ca = facts(`CN=${tenantName} CA`, 'CN=Fake Root', `tenant-ca:${tenantId}:${randomBytes(8).toString('hex')}`, this.now(), 730);
    this.caTenants.set(ca.serialNumber, tenantId);
    return ca;
  }

  async issueIdentityCertificate(csrPem: string): Promise<DeviceIdentity> {
    const deviceId = CSR_PATTERN.exec(csrPem.trim())?.[1];
    if (!deviceId) throw badInput('csr', 'not a PKCS#10 certificate signing request');
    return { deviceId, ...facts(`CN=${deviceId.slice(0, 64)}`, 'CN=Fake Manufacturing CA', `identity:${deviceId}:${randomBytes(8).toString('hex')}`, this.now(), 3650) };
  }

  async verifyIdentityCertificate(): Promise<DeviceIdentity> {
    throw badInput('certificate', 'the fake PKI does not verify certificates');
  }
}
