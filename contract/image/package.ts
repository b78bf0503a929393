/**
 * The image package format (PACKAGE.md): metadata, the payload's SHA-256, and an ECDSA P-256 / SHA-256 signature
 * (IEEE P1363, base64) over `signedBytes(metadata)`. Signing fixed lines, not JSON, needs no canonicalisation.
 * Shared by the device agent (which verifies before installing) and the tools that make packages; the service
 * keeps its own copy of signedBytes (domain/images), kept equal by test/contract-alignment.test.ts.
 */
import { createHash, createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto';

export const IMAGE_TYPES = ['Application', 'BoardConfig', 'OS'] as const;
export type ImageType = (typeof IMAGE_TYPES)[number];

export interface ImageMetadata {
  readonly componentId: string;
  readonly name: string;
  readonly version: string;
  readonly type: ImageType;
  /** SHA-256 of the payload, lower-case hex. */
  readonly sha256: string;
  readonly size: number;
}

export const SIGNATURE_DOMAIN = 'spheregate-image-v1';

/** What is signed: one field per line, in this order, componentId and sha256 lower-case. */
export function signedBytes(m: ImageMetadata): Buffer {
  return Buffer.from([SIGNATURE_DOMAIN, m.componentId.toLowerCase(), m.name, m.version, m.type, m.sha256.toLowerCase(), String(m.size)].join('\n'), 'utf8');
}

export const sha256Hex = (payload: Uint8Array): string => createHash('sha256').update(payload).digest('hex');

/** Signs a package's metadata with a P-256 private key (PKCS#8 PEM): base64 of the 64-byte r||s signature. */
export function signImage(m: ImageMetadata, privateKeyPem: string): string {
  return nodeSign('sha256', signedBytes(m), { key: createPrivateKey(privateKeyPem), dsaEncoding: 'ieee-p1363' }).toString('base64');
}

/** True when `signature` is a valid signature of the metadata by the public key (SPKI PEM). */
export function verifyImageSignature(m: ImageMetadata, signature: string, publicKeyPem: string): boolean {
  try {
    const bytes = Buffer.from(signature, 'base64');
    if (bytes.length !== 64) return false;
    return nodeVerify('sha256', signedBytes(m), { key: createPublicKey(publicKeyPem), dsaEncoding: 'ieee-p1363' }, bytes);
  } catch {
    return false;
  }
}

/** A complete package as a tool makes it: metadata, payload and signature. */
export function makePackage(
  meta: Omit<ImageMetadata, 'sha256' | 'size'>,
  payload: Uint8Array,
  privateKeyPem: string,
): { metadata: ImageMetadata; payload: Uint8Array; signature: string } {
  const metadata: ImageMetadata = { ...meta, componentId: meta.componentId.toLowerCase(), sha256: sha256Hex(payload), size: payload.byteLength };
  return { metadata, payload, signature: signImage(metadata, privateKeyPem) };
}
