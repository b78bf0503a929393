/**
 * Files of the development PKI under `<dataDir>/pki/`: certificates (`<name>.pem`, 0644) and private keys
 * (`<name>.key.pem`, 0600) in a 0700 directory. Keys are read into non-extractable CryptoKeys for signing; their
 * PEM text never leaves this module except where TLS needs it (the server key), and is never logged.
 */
import { randomBytes, X509Certificate, createPrivateKey } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { importPrivateKeyPem, type CryptoKey } from './x509.js';

const DIR_MODE = 0o700;
const KEY_MODE = 0o600;
const CERTIFICATE_MODE = 0o644;

/** A certificate with the key that signs for it. */
export interface StoredPair {
  readonly certificatePem: string;
  readonly keyPem: string;
}

export class KeyStore {
  private constructor(readonly dir: string) {}

  /** Opens (creating if needed) the store directory and tightens it to 0700. */
  static async open(dir: string): Promise<KeyStore> {
    await ensurePrivateDir(dir);
    return new KeyStore(dir);
  }

  certificatePath(name: string): string {
    return join(this.dir, `${name}.pem`);
  }

  keyPath(name: string): string {
    return join(this.dir, `${name}.key.pem`);
  }

  /**
   * The pair stored under `name`, or null when neither file exists. Half a pair is an error: silently replacing
   * a CA whose certificate or key went missing would orphan everything it signed.
   */
  async readPair(name: string): Promise<StoredPair | null> {
    const [certificatePem, keyPem] = await Promise.all([
      readIfExists(this.certificatePath(name)),
      readIfExists(this.keyPath(name)),
    ]);
    if (certificatePem === null && keyPem === null) return null;
    if (certificatePem === null || keyPem === null) {
      const missing = certificatePem === null ? this.certificatePath(name) : this.keyPath(name);
      throw new Error(
        `PKI store is incomplete: ${missing} is missing. Restore it, or move both ${name}.pem and ${name}.key.pem ` +
          'away to create a new one (everything it signed must then be issued again).',
      );
    }
    await tightenKeyMode(this.keyPath(name));
    if (!keyMatchesCertificate(certificatePem, keyPem)) {
      throw new Error(`PKI store is inconsistent: ${this.keyPath(name)} is not the key of ${this.certificatePath(name)}`);
    }
    return { certificatePem, keyPem };
  }

  /** Key first, then certificate, each written to a temporary file and renamed so a crash leaves no torn file. */
  async writePair(name: string, pair: StoredPair): Promise<void> {
    await ensurePrivateDir(dirname(this.keyPath(name)));
    await writeAtomically(this.keyPath(name), pair.keyPem, KEY_MODE);
    await writeAtomically(this.certificatePath(name), pair.certificatePem, CERTIFICATE_MODE);
  }

  /** The key as a CryptoKey that can sign but cannot be exported again. */
  static importSigningKey(pair: StoredPair): Promise<CryptoKey> {
    return importPrivateKeyPem(pair.keyPem, false);
  }
}

export function keyMatchesCertificate(certificatePem: string, keyPem: string): boolean {
  try {
    return new X509Certificate(certificatePem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: DIR_MODE });
  // mkdir's mode only applies to directories it creates; an existing one is tightened here.
  await chmod(dir, DIR_MODE);
}

async function readIfExists(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if (isFileNotFound(e)) return null;
    throw e;
  }
}

/** A key restored from a backup may come back world-readable; put it back to 0600 before using it. */
async function tightenKeyMode(path: string): Promise<void> {
  const { mode } = await stat(path);
  if ((mode & 0o077) !== 0) await chmod(path, KEY_MODE);
}

async function writeAtomically(path: string, content: string, mode: number): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, content, { mode, flag: 'wx' });
    // writeFile's mode is filtered by the umask; the intended mode is set explicitly.
    await chmod(temporary, mode);
    await rename(temporary, path);
  } catch (e) {
    await rm(temporary, { force: true });
    throw e;
  }
}

function isFileNotFound(e: unknown): boolean {
  return typeof e === 'object' && e !== null && Reflect.get(e, 'code') === 'ENOENT';
}
