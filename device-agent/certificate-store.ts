/**
 * Where a device keeps the certificate its tenant CA issued, the chain to send after it, and the operational key
 * it is for. The file store writes `<identity file>.certificate.json` (mode 0600, replaced atomically), so a
 * device keeps its certificate across restarts and renews only when due.
 */
import { besideIdentity, readJsonFile, writeJsonFileAtomically } from './json-file.js';

export interface StoredCertificate {
  readonly certificatePem: string;
  /** Tenant CA, then the platform root. */
  readonly chainPem: string;
  /** PKCS#8 PEM of the operational key. */
  readonly keyPem: string;
  readonly serialNumber: string;
  readonly notBefore: string;
  readonly notAfter: string;
}

export interface CertificateStore {
  load(): Promise<StoredCertificate | null>;
  save(certificate: StoredCertificate): Promise<void>;
}

export class MemoryCertificateStore implements CertificateStore {
  private current: StoredCertificate | null = null;
  async load(): Promise<StoredCertificate | null> {
    return this.current;
  }
  async save(certificate: StoredCertificate): Promise<void> {
    this.current = certificate;
  }
}

export const CERTIFICATE_FILE_SUFFIX = '.certificate.json';

export class FileCertificateStore implements CertificateStore {
  constructor(readonly path: string) {}

  /** The certificate store that belongs to an identity file. */
  static besideIdentity(identityPath: string): FileCertificateStore {
    return new FileCertificateStore(besideIdentity(identityPath, CERTIFICATE_FILE_SUFFIX));
  }

  async load(): Promise<StoredCertificate | null> {
    const value = await readJsonFile(this.path, 'certificate');
    return isStoredCertificate(value) ? value : null;
  }

  async save(certificate: StoredCertificate): Promise<void> {
    await writeJsonFileAtomically(this.path, certificate);
  }
}

function isStoredCertificate(v: unknown): v is StoredCertificate {
  if (typeof v !== 'object' || v === null) return false;
  return ['certificatePem', 'chainPem', 'keyPem', 'serialNumber', 'notBefore', 'notAfter'].every((k) => typeof Reflect.get(v, k) === 'string');
}
