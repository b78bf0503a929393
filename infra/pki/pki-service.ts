/**
 * The domain's Pki port over the development PKI: tenant CAs signed by the platform root, device identity
 * certificates signed by the manufacturing CA. Refusals are DomainError BAD_USER_INPUT with the reason.
 */
import { createPublicKey, verify } from 'node:crypto';
import { deviceIdFromPublicKey } from '../../contract/identity.js';
import type { CertificateFacts, CsrCheck, DeviceIdentity, Pki, RevokedEntry } from '../../domain/pki/pki.port.js';
import type { Clock } from '../../domain/shared/clock.js';
import { badInput, notFound } from '../../domain/shared/errors.js';
import type { Logger } from '../../domain/shared/logger.js';
import { signCrl } from './crl.js';
import { signDeviceCertificate } from './device-certificate.js';
import { addYears, checkIdentityCertificate, signIdentityCertificate, type SigningCa } from './identity-certificate.js';
import type { KeyStore } from './key-store.js';
import { firstTenantCaName, successorTenantCaName, TenantCaKeys } from './tenant-ca-keys.js';
import { certificateFacts, exportPrivateKeyPem, generateKeyPair, issueCertificate, verifyCsr } from './x509.js';

export const TENANT_CA_VALID_YEARS = 2;
/** Far above any real P-256 CSR (~500 bytes): bounds the parsing work a caller can ask for. */
export const MAX_CSR_PEM_LENGTH = 16_384;
export const MAX_CERTIFICATE_PEM_LENGTH = 16_384;
/** New certificates start a little in the past so a peer whose clock runs behind does not see them as not-yet-valid. */
export const CLOCK_SKEW_ALLOWANCE_MS = 5 * 60_000;
/** A device certificate lives seconds (tests) to 400 days (the CA/Browser Forum's ceiling for TLS leaves). */
export const MAX_DEVICE_CERTIFICATE_SECONDS = 400 * 86_400;
export const PROOF_OF_POSSESSION_VALID_DAYS = 1;
const ROOT_CRL_VALIDITY_MS = 7 * 86_400_000;
const VERIFICATION_CODE = /^[A-Za-z0-9-]{1,64}$/;
/** Tenant IDs name key files, so only file-name-safe IDs are accepted (UUIDs in practice). */
const TENANT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

export interface DevPkiDeps {
  readonly store: KeyStore;
  readonly root: SigningCa;
  readonly manufacturingCa: SigningCa;
  readonly clock: Clock;
  readonly log: Logger;
}

export class DevPki implements Pki {
  /** Serialises creation per tenant, so two concurrent calls cannot store one's key with the other's certificate. */
  private readonly tenantCaInProgress = new Map<string, Promise<CertificateFacts>>();

  private readonly tenantCaKeys: TenantCaKeys;
  private rootCrlCache: { pem: string; refreshAfter: Date } | null = null;

  constructor(private readonly deps: DevPkiDeps) {
    this.tenantCaKeys = new TenantCaKeys(deps.store);
  }

  get rootCaPem(): string {
    return this.deps.root.certificatePem;
  }

  /** Idempotent: a tenant that already has a CA gets that CA back. */
  async createTenantCa(tenantId: string, tenantName: string): Promise<CertificateFacts> {
    const { name } = this.requireTenant(tenantId, tenantName);
    const running = this.tenantCaInProgress.get(tenantId);
    if (running) return running;
    const creation = this.loadOrCreateTenantCa(tenantId, name).finally(() => this.tenantCaInProgress.delete(tenantId));
    this.tenantCaInProgress.set(tenantId, creation);
    return creation;
  }

  async issueIdentityCertificate(csrPem: string): Promise<DeviceIdentity> {
    if (csrPem.length > MAX_CSR_PEM_LENGTH) throw badInput('csr', `longer than ${MAX_CSR_PEM_LENGTH} characters`);
    const csr = await verifyCsr(csrPem);
    if (!csr.ok) throw badInput('csr', csr.reason);
    const deviceId = deviceIdFromPublicKey(csr.publicKeyPoint);
    const certificatePem = await signIdentityCertificate({
      manufacturingCa: this.deps.manufacturingCa,
      publicKey: csr.publicKey,
      deviceId,
      validFrom: this.startOfValidity(),
    });
    this.deps.log.debug({ deviceId }, 'issued device identity certificate');
    return { ...certificateFacts(certificatePem), deviceId };
  }

  async verifyIdentityCertificate(certificatePem: string): Promise<DeviceIdentity> {
    if (certificatePem.length > MAX_CERTIFICATE_PEM_LENGTH) {
      throw badInput('certificate', `longer than ${MAX_CERTIFICATE_PEM_LENGTH} characters`);
    }
    const check = await checkIdentityCertificate(certificatePem, {
      manufacturingCaPem: this.deps.manufacturingCa.certificatePem,
      now: this.deps.clock.now(),
    });
    if (!check.ok) throw badInput('certificate', check.reason);
    return { ...certificateFacts(certificatePem), deviceId: check.deviceId };
  }

  async createSuccessorTenantCa(tenantId: string, tenantName: string): Promise<CertificateFacts> {
    const { name } = this.requireTenant(tenantId, tenantName);
    return this.makeTenantCa(tenantId, name, (serial) => successorTenantCaName(tenantId, serial));
  }

  async checkCsr(csrPem: string): Promise<CsrCheck> {
    if (typeof csrPem !== 'string' || csrPem.length > MAX_CSR_PEM_LENGTH) return { ok: false, reason: `not a CSR of at most ${MAX_CSR_PEM_LENGTH} characters` };
    const csr = await verifyCsr(csrPem);
    if (!csr.ok) return { ok: false, reason: csr.reason };
    return { ok: true, publicKeyHex: Buffer.from(csr.publicKeyPoint).toString('hex').toUpperCase() };
  }

  async verifyDeviceSignature(publicKeyHex: string, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
    try {
      const point = Buffer.from(publicKeyHex, 'hex');
      if (point.length !== 65 || point[0] !== 0x04 || signature.length !== 64) return false;
      const key = createPublicKey({
        format: 'jwk',
        key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') },
      });
      return verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
    } catch {
      // Not a point on the curve, or otherwise unreadable: no signature can verify with it.
      return false;
    }
  }

  async issueDeviceCertificate(input: {
    tenantId: string;
    caSerialNumber: string;
    deviceId: string;
    csrPem: string;
    lifetimeSeconds: number;
  }): Promise<CertificateFacts> {
    const { lifetimeSeconds } = input;
    if (!Number.isInteger(lifetimeSeconds) || lifetimeSeconds < 1 || lifetimeSeconds > MAX_DEVICE_CERTIFICATE_SECONDS) {
      throw badInput('lifetimeSeconds', `must be an integer 1..${MAX_DEVICE_CERTIFICATE_SECONDS}`);
    }
    const ca = await this.tenantCa(input.tenantId, input.caSerialNumber);
    if (input.csrPem.length > MAX_CSR_PEM_LENGTH) throw badInput('csr', `longer than ${MAX_CSR_PEM_LENGTH} characters`);
    const csr = await verifyCsr(input.csrPem);
    if (!csr.ok) throw badInput('csr', csr.reason);
    const now = this.deps.clock.now();
    const certificatePem = await signDeviceCertificate({
      tenantCa: ca,
      publicKey: csr.publicKey,
      deviceId: input.deviceId,
      tenantId: input.tenantId,
      // Back-dated for clock skew, but by at most a tenth of the lifetime: a device renews at a fraction of
      // notAfter - notBefore, and a short-lived certificate must not start its life already due for renewal.
      validFrom: new Date(now.getTime() - Math.min(CLOCK_SKEW_ALLOWANCE_MS, lifetimeSeconds * 100)),
      // Measured from now, not from the back-dated start: the lifetime is what the operator configured.
      validTo: new Date(now.getTime() + lifetimeSeconds * 1000),
    });
    return certificateFacts(certificatePem);
  }

  async issueProofOfPossession(input: { tenantId: string; caSerialNumber: string; verificationCode: string }): Promise<CertificateFacts> {
    if (!VERIFICATION_CODE.test(input.verificationCode)) throw badInput('verificationCode', 'must be 1..64 letters, digits or "-"');
    const ca = await this.tenantCa(input.tenantId, input.caSerialNumber);
    // The key is thrown away: the certificate only proves that the CA's holder signed the code.
    const keys = await generateKeyPair(false);
    const certificatePem = await issueCertificate({
      issuer: ca,
      publicKey: keys.publicKey,
      subject: [{ CN: input.verificationCode }],
      validFrom: this.startOfValidity(),
      validDays: PROOF_OF_POSSESSION_VALID_DAYS,
      extKeyUsage: 'clientAuth',
    });
    return certificateFacts(certificatePem);
  }

  async signCrl(input: {
    tenantId: string;
    caSerialNumber: string;
    crlNumber: number;
    revoked: readonly RevokedEntry[];
    thisUpdate: Date;
    nextUpdate: Date;
  }): Promise<string> {
    const ca = await this.tenantCa(input.tenantId, input.caSerialNumber);
    return signCrl({ ca, crlNumber: input.crlNumber, revoked: input.revoked, thisUpdate: input.thisUpdate, nextUpdate: input.nextUpdate });
  }

  async rootCrl(): Promise<string> {
    const now = this.deps.clock.now();
    const cached = this.rootCrlCache;
    if (cached && cached.refreshAfter.getTime() > now.getTime()) return cached.pem;
    const nextUpdate = new Date(now.getTime() + ROOT_CRL_VALIDITY_MS);
    // Seconds since the epoch: increases across restarts without a counter to keep.
    const crlNumber = Math.floor(now.getTime() / 1000);
    const pem = await signCrl({ ca: this.deps.root, crlNumber, revoked: [], thisUpdate: now, nextUpdate });
    this.rootCrlCache = { pem, refreshAfter: new Date(nextUpdate.getTime() - ROOT_CRL_VALIDITY_MS / 2) };
    return pem;
  }

  private async tenantCa(tenantId: string, serialNumber: string): Promise<SigningCa> {
    if (!TENANT_ID_PATTERN.test(tenantId) || !/^[0-9A-F]{1,64}$/.test(serialNumber)) throw notFound('TenantCa', serialNumber);
    const ca = await this.tenantCaKeys.find(tenantId, serialNumber);
    if (!ca) throw notFound('TenantCa', serialNumber);
    return ca;
  }

  private requireTenant(tenantId: string, tenantName: string): { name: string } {
    if (!TENANT_ID_PATTERN.test(tenantId)) throw badInput('tenantId', 'must be 1-128 letters, digits, "-" or "_"');
    const name = tenantName.trim();
    if (name.length === 0) throw badInput('tenantName', 'must not be empty');
    return { name };
  }

  private async loadOrCreateTenantCa(tenantId: string, tenantName: string): Promise<CertificateFacts> {
    const existing = await this.deps.store.readPair(firstTenantCaName(tenantId));
    if (existing) return certificateFacts(existing.certificatePem);
    return this.makeTenantCa(tenantId, tenantName, () => firstTenantCaName(tenantId));
  }

  private async makeTenantCa(tenantId: string, tenantName: string, fileName: (serialNumber: string) => string): Promise<CertificateFacts> {
    const keys = await generateKeyPair(true);
    const validFrom = this.startOfValidity();
    const certificatePem = await issueCertificate({
      issuer: this.deps.root,
      publicKey: keys.publicKey,
      // Structured, because the tenant name is user input and may contain "," or "=".
      subject: [{ CN: tenantName.slice(0, 64) }, { OU: tenantId }, { O: 'Spheregate tenants' }],
      validFrom,
      validTo: addYears(validFrom, TENANT_CA_VALID_YEARS),
      isCa: true,
      // A tenant CA signs leaves only.
      pathLength: 0,
    });
    const facts = certificateFacts(certificatePem);
    await this.deps.store.writePair(fileName(facts.serialNumber), { certificatePem, keyPem: await exportPrivateKeyPem(keys.privateKey) });
    this.deps.log.info(
      { tenantId, serialNumber: facts.serialNumber, notAfter: facts.notAfter.toISOString() },
      'created tenant CA',
    );
    return facts;
  }

  private startOfValidity(): Date {
    return new Date(this.deps.clock.now().getTime() - CLOCK_SKEW_ALLOWANCE_MS);
  }
}
