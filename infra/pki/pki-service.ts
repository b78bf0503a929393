/**
 * The domain's Pki port over the development PKI: tenant CAs signed by the platform root, device identity
 * certificates signed by the manufacturing CA. Refusals are DomainError BAD_USER_INPUT with the reason.
 */
import { deviceIdFromPublicKey } from '../../contract/identity.js';
import type { CertificateFacts, DeviceIdentity, Pki } from '../../domain/pki/pki.port.js';
import type { Clock } from '../../domain/shared/clock.js';
import { badInput } from '../../domain/shared/errors.js';
import type { Logger } from '../../domain/shared/logger.js';
import { addYears, checkIdentityCertificate, signIdentityCertificate, type SigningCa } from './identity-certificate.js';
import { KeyStore } from './key-store.js';
import { certificateFacts, exportPrivateKeyPem, generateKeyPair, issueCertificate, verifyCsr } from './x509.js';

export const TENANT_CA_VALID_YEARS = 2;
/** Far above any real P-256 CSR (~500 bytes): bounds the parsing work a caller can ask for. */
export const MAX_CSR_PEM_LENGTH = 16_384;
export const MAX_CERTIFICATE_PEM_LENGTH = 16_384;
/** New certificates start a little in the past so a peer whose clock runs behind does not see them as not-yet-valid. */
export const CLOCK_SKEW_ALLOWANCE_MS = 5 * 60_000;
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

  constructor(private readonly deps: DevPkiDeps) {}

  /** Idempotent: a tenant that already has a CA gets that CA back. */
  async createTenantCa(tenantId: string, tenantName: string): Promise<CertificateFacts> {
    if (!TENANT_ID_PATTERN.test(tenantId)) throw badInput('tenantId', 'must be 1-128 letters, digits, "-" or "_"');
    const name = tenantName.trim();
    if (name.length === 0) throw badInput('tenantName', 'must not be empty');
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

  private async loadOrCreateTenantCa(tenantId: string, tenantName: string): Promise<CertificateFacts> {
    const fileName = `tenants/${tenantId}`;
    const existing = await this.deps.store.readPair(fileName);
    if (existing) return certificateFacts(existing.certificatePem);

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
    await this.deps.store.writePair(fileName, { certificatePem, keyPem: await exportPrivateKeyPem(keys.privateKey) });
    const facts = certificateFacts(certificatePem);
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
