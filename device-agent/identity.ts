/**
 * A device's identity file (format v1), one JSON file per device:
 *
 *   { "version": 1, "deviceId": "<128 hex>", "privateKeyPem": "...", "certificatePem": "...", "trustAnchorsPem": "..." }
 *
 * `trustAnchorsPem` are the CA certificates that sign the service's server certificate (the platform root), so
 * the device can tell the real service from an impostor. The file is written with mode 0600.
 *
 * Why a private key in a file: a real Azure Sphere chip keeps its identity key in the Pluton security subsystem
 * and never lets it out. An emulated chip has nowhere else to keep it, so the PEM lives in this file only; once
 * loaded, the key is imported as a NON-extractable CryptoKey and nothing in the agent exports it again.
 */
import { createPrivateKey, createPublicKey, webcrypto, X509Certificate } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { deviceIdFromPublicKey } from '../contract/identity.js';

export const IDENTITY_FILE_VERSION = 1;
const FILE_MODE = 0o600;
/** Far above a P-256 key, a certificate and a few CA certificates: a guard against reading an unrelated huge file. */
const MAX_IDENTITY_FILE_BYTES = 256 * 1024;

const Pem = (label: string) => Type.String({ pattern: `-----BEGIN ${label}-----`, maxLength: 64 * 1024 });

export const IdentityFileSchema = Type.Object(
  {
    version: Type.Literal(IDENTITY_FILE_VERSION),
    deviceId: Type.String({ pattern: '^[0-9A-F]{128}$' }),
    privateKeyPem: Pem('PRIVATE KEY'),
    certificatePem: Pem('CERTIFICATE'),
    trustAnchorsPem: Pem('CERTIFICATE'),
  },
  { additionalProperties: false },
);
export type IdentityFile = Static<typeof IdentityFileSchema>;

const checkIdentityFile = TypeCompiler.Compile(IdentityFileSchema);

export class IdentityFileError extends Error {
  override readonly name = 'IdentityFileError';
}

/** Validates a parsed JSON value as an identity file. Errors name the field and the source. */
export function parseIdentityFile(json: unknown, source = 'identity file'): IdentityFile {
  if (checkIdentityFile.Check(json)) return json;
  const first = checkIdentityFile.Errors(json).First();
  const where = first?.path ? first.path : '/';
  throw new IdentityFileError(`${source}: ${where}: ${first?.message ?? 'not an identity file'}`);
}

export async function readIdentityFile(path: string): Promise<IdentityFile> {
  const text = await readFile(path, 'utf8');
  if (text.length > MAX_IDENTITY_FILE_BYTES) throw new IdentityFileError(`${path}: larger than ${MAX_IDENTITY_FILE_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new IdentityFileError(`${path}: not valid JSON`);
  }
  return parseIdentityFile(json, path);
}

/**
 * Writes the file readable by its owner only. Refuses to overwrite: an identity whose key is lost is a device
 * that can never connect again.
 */
export async function writeIdentityFile(path: string, identity: IdentityFile): Promise<void> {
  const valid = parseIdentityFile(identity, path);
  await writeFile(path, `${JSON.stringify(valid, null, 2)}\n`, { mode: FILE_MODE, flag: 'wx' });
  // The mode given to writeFile is filtered by the umask; 0600 is what we mean.
  await chmod(path, FILE_MODE);
}

/** What node tls needs to present the identity and to check the service. */
export interface TlsIdentity {
  readonly key: string;
  readonly cert: string;
  readonly ca: string;
}

export const tlsIdentity = (identity: IdentityFile): TlsIdentity => ({
  key: identity.privateKeyPem,
  cert: identity.certificatePem,
  ca: identity.trustAnchorsPem,
});

export interface LoadedIdentity {
  readonly deviceId: string;
  /** P-256, usable for signing only, never exportable. */
  readonly signingKey: webcrypto.CryptoKey;
  readonly tls: TlsIdentity;
  /** ECDSA P-256 / SHA-256 signature (IEEE P1363 r||s) over `data`, e.g. for attestation. */
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/**
 * Checks the file hangs together (the key is P-256, its derived ID is `deviceId`, the certificate is for that
 * key) and imports the key as a non-extractable CryptoKey.
 */
export async function loadIdentity(identity: IdentityFile): Promise<LoadedIdentity> {
  const valid = parseIdentityFile(identity);
  const derivedId = deviceIdOfPrivateKey(valid.privateKeyPem);
  if (derivedId !== valid.deviceId) throw new IdentityFileError('identity file: deviceId does not belong to privateKeyPem');
  if (!certificateIsForKey(valid.certificatePem, valid.privateKeyPem)) {
    throw new IdentityFileError('identity file: certificatePem is not the certificate of privateKeyPem');
  }
  const der = createPrivateKey(valid.privateKeyPem).export({ format: 'der', type: 'pkcs8' });
  const signingKey = await webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  return {
    deviceId: valid.deviceId,
    signingKey,
    tls: tlsIdentity(valid),
    sign: async (data) =>
      new Uint8Array(await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, signingKey, data)),
  };
}

/** The device ID (contract/identity.ts) of a P-256 private key given as PEM. */
export function deviceIdOfPrivateKey(privateKeyPem: string): string {
  let jwk: webcrypto.JsonWebKey;
  try {
    jwk = createPublicKey(createPrivateKey(privateKeyPem)).export({ format: 'jwk' });
  } catch {
    throw new IdentityFileError('identity file: privateKeyPem is not a readable private key');
  }
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.x || !jwk.y) {
    throw new IdentityFileError('identity file: privateKeyPem is not an ECDSA P-256 key');
  }
  return deviceIdFromPublicKey(Buffer.concat([Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]));
}

function certificateIsForKey(certificatePem: string, privateKeyPem: string): boolean {
  try {
    return new X509Certificate(certificatePem).checkPrivateKey(createPrivateKey(privateKeyPem));
  } catch {
    return false;
  }
}
