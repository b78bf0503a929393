/** Image package vocabulary. Mirrors contract/image/package.ts (test/contract-alignment.test.ts keeps them equal). */
import { createHash, createPublicKey, verify } from 'node:crypto';

export const IMAGE_TYPES = ['Application', 'BoardConfig', 'OS'] as const;
export type ImageType = (typeof IMAGE_TYPES)[number];
export const IMAGE_STATUSES = ['PENDING_UPLOAD', 'READY'] as const;
export type ImageStatus = (typeof IMAGE_STATUSES)[number];
export const OS_FEEDS = ['Retail', 'RetailEval'] as const;
export type OsFeedName = (typeof OS_FEEDS)[number];

export interface SignedMetadata {
  readonly componentId: string;
  readonly name: string;
  readonly version: string;
  readonly type: ImageType;
  readonly sha256: string;
  readonly size: number;
}

export const SIGNATURE_DOMAIN = 'spheregate-image-v1';

/** What a package signature covers: one field per line, componentId and sha256 lower-case (PACKAGE.md). */
export function signedBytes(m: SignedMetadata): Buffer {
  return Buffer.from([SIGNATURE_DOMAIN, m.componentId.toLowerCase(), m.name, m.version, m.type, m.sha256.toLowerCase(), String(m.size)].join('\n'), 'utf8');
}

export function verifySignature(m: SignedMetadata, signatureBase64: string, publicKeyPem: string): boolean {
  try {
    const signature = Buffer.from(signatureBase64, 'base64');
    if (signature.length !== 64) return false;
    return verify('sha256', signedBytes(m), { key: createPublicKey(publicKeyPem), dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}

/** SHA-256 of the key's SPKI DER, hex; null when the PEM is not a P-256 public key. */
export function p256Fingerprint(publicKeyPem: string): string | null {
  try {
    const key = createPublicKey(publicKeyPem);
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') return null;
    return createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex');
  } catch {
    return null;
  }
}
