/**
 * A stand-in PKI for domain tests, so they depend on no real cryptography (infra/pki is tested on its own).
 * Its "CSR" is a PEM-shaped wrapper around a device ID; anything else is refused like a bad CSR.
 */
import { createHash, randomBytes } from 'node:crypto';
import { badInput } from '../../domain/shared/errors.js';
import type { CertificateFacts, DeviceIdentity, Pki } from '../../domain/pki/pki.port.js';

const CSR_PATTERN = /^-----BEGIN FAKE CSR-----\n([0-9A-F]{128})\n-----END FAKE CSR-----$/;
const DAY_MS = 24 * 3600 * 1000;

export const randomDeviceId = (): string => randomBytes(64).toString('hex').toUpperCase();
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
  };
}

export class FakePki implements Pki {
  /** Tenant CAs made, in order (tests check that createTenant asked for one). */
  readonly tenantCas: Array<{ tenantId: string; tenantName: string }> = [];

  constructor(private readonly now: () => Date = () => new Date()) {}

  async createTenantCa(tenantId: string, tenantName: string): Promise<CertificateFacts> {
    this.tenantCas.push({ tenantId, tenantName });
    return facts(`CN=${tenantName} CA`, 'CN=Fake Root', `tenant-ca:${tenantId}`, this.now(), 730);
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
