/**
 * Where a device keeps the certificate its tenant CA issued, the chain to send after it, and the operational key
 * it is for. The file store writes `<identity file>.certificate.json` (mode 0600, replaced atomically), so a
 * device keeps its certificate across restarts and renews only when due.
 */
import { randomBytes } from 'node:crypto';
import { chmod, readFile, rename, rm, writeFile } from 'node:fs/promises';

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

const FILE_MODE = 0o600;
export const CERTIFICATE_FILE_SUFFIX = '.certificate.json';

export class FileCertificateStore implements CertificateStore {
  constructor(readonly path: string) {}

  /** The certificate store that belongs to an identity file. */
  static besideIdentity(identityPath: string): FileCertificateStore {
    return new FileCertificateStore(`${identityPath.replace(/\.json$/, '')}${CERTIFICATE_FILE_SUFFIX}`);
  }

  async load(): Promise<StoredCertificate | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if (typeof e === 'object' && e !== null && Reflect.get(e, 'code') === 'ENOENT') return null;
      throw e;
    }
    const value: unknown = JSON.parse(text);
    return isStoredCertificate(value) ? value : null;
  }

  async save(certificate: StoredCertificate): Promise<void> {
    const temporary = `${this.path}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(temporary, `${JSON.stringify(certificate, null, 2)}\n`, { mode: FILE_MODE, flag: 'wx' });
      await chmod(temporary, FILE_MODE);
      await rename(temporary, this.path);
    } catch (e) {
      await rm(temporary, { force: true });
      throw e;
    }
  }
}

function isStoredCertificate(v: unknown): v is StoredCertificate {
  if (typeof v !== 'object' || v === null) return false;
  return ['certificatePem', 'chainPem', 'keyPem', 'serialNumber', 'notBefore', 'notAfter'].every((k) => typeof Reflect.get(v, k) === 'string');
}
