/**
 * The only code that reads a device's certificate. The TLS layer has already verified the chain (manufacturing CA
 * or platform root) and the validity period; this module turns the verified certificate into the device id it
 * proves. Two kinds get this far:
 *   - the identity certificate: its key IS the device's identity key, so the SAN device ID must equal the ID
 *     derived from the key (a certificate naming another device's ID must not pass as that device);
 *   - a device certificate issued by a tenant CA after attestation: its key is the device's operational key, so
 *     it names the device and its tenant in SAN URIs, and the service decides by its thumbprint (presence.admit
 *     accepts only certificates it issued, unexpired and unrevoked).
 */
import { createHash, type X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { deviceIdFromPublicKey, deviceIdFromUri, DEVICE_ID_URI_PREFIX, tenantIdFromUri, TENANT_ID_URI_PREFIX } from '../contract/identity.js';

export type CertificateKind = 'identity' | 'tenant';

export interface PeerIdentity {
  /** 128 upper-case hex: the raw X||Y of the certificate's P-256 key, equal to the id in its SAN URI. */
  readonly deviceId: string;
  /** SHA-256 of the certificate's DER, upper-case hex (as domain CertificateFacts.sha256Thumbprint). */
  readonly sha256Thumbprint: string;
  readonly kind: CertificateKind;
}

export type IdentityRefusal =
  /** The TLS session carries no client certificate (cannot happen with requestCert + rejectUnauthorized). */
  | 'NO_CERTIFICATE'
  /** No SAN URI `urn:spheregate:device:<128 hex>`, or more than one. */
  | 'NO_DEVICE_ID'
  /** The key is not an uncompressed P-256 point, so no device id can be derived from it. */
  | 'UNSUPPORTED_KEY'
  /** The SAN names one device, the key belongs to another, and it is no tenant-issued certificate either. */
  | 'DEVICE_ID_MISMATCH';

export type IdentityResult =
  | { readonly ok: true; readonly identity: PeerIdentity }
  | { readonly ok: false; readonly reason: IdentityRefusal; readonly claimedDeviceId: string | null };

/** The identity a connected TLS peer proved. */
export function peerIdentity(socket: TLSSocket): IdentityResult {
  const certificate = socket.getPeerX509Certificate();
  if (!certificate) return { ok: false, reason: 'NO_CERTIFICATE', claimedDeviceId: null };
  return identityFromCertificate(certificate);
}

export function identityFromCertificate(certificate: X509Certificate): IdentityResult {
  const allUris = subjectAltNameUris(certificate.subjectAltName);
  const uris = allUris.filter((u) => u.startsWith(DEVICE_ID_URI_PREFIX));
  const claimed = uris.length === 1 && uris[0] !== undefined ? deviceIdFromUri(uris[0]) : null;
  if (claimed === null) return { ok: false, reason: 'NO_DEVICE_ID', claimedDeviceId: null };

  const keyId = deviceIdOfKey(certificate);
  if (keyId === null) return { ok: false, reason: 'UNSUPPORTED_KEY', claimedDeviceId: claimed };
  let kind: CertificateKind = 'identity';
  if (keyId !== claimed) {
    const tenantUris = allUris.filter((u) => u.startsWith(TENANT_ID_URI_PREFIX));
    const tenantId = tenantUris.length === 1 && tenantUris[0] !== undefined ? tenantIdFromUri(tenantUris[0]) : null;
    if (tenantId === null) return { ok: false, reason: 'DEVICE_ID_MISMATCH', claimedDeviceId: claimed };
    kind = 'tenant';
  }

  return {
    ok: true,
    identity: {
      deviceId: claimed,
      sha256Thumbprint: sha256Thumbprint(certificate),
      kind,
    },
  };
}

export const sha256Thumbprint = (certificate: X509Certificate): string =>
  createHash('sha256').update(certificate.raw).digest('hex').toUpperCase();

/**
 * The SubjectPublicKeyInfo of every uncompressed P-256 key, up to the point's X||Y: SEQUENCE { SEQUENCE { OID
 * id-ecPublicKey, OID prime256v1 }, BIT STRING (no unused bits) 0x04 ... }. Named curve only; DER has one encoding.
 */
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200' + '04', 'hex');
const P256_SPKI_LENGTH = P256_SPKI_PREFIX.length + 64;

/**
 * The device id of the certificate's key, read from its DER: the certificate's public key as a KeyObject exported
 * to JWK costs OpenSSL 3 a provider key decode and export, about a third of a millisecond per connection under
 * load. The DER (already parsed, and for a peer verified, by OpenSSL) is walked element by element to the
 * SubjectPublicKeyInfo, which must be exactly that of an uncompressed P-256 point.
 */
function deviceIdOfKey(certificate: X509Certificate): string | null {
  const spki = subjectPublicKeyInfo(certificate.raw);
  if (spki === null || spki.length !== P256_SPKI_LENGTH || !spki.subarray(0, P256_SPKI_PREFIX.length).equals(P256_SPKI_PREFIX)) return null;
  return deviceIdFromPublicKey(spki.subarray(P256_SPKI_PREFIX.length));
}

/** One DER element at `at`: where its content starts and where it ends; null if it runs past the end. */
function derElement(der: Uint8Array, at: number): { readonly tag: number; readonly content: number; readonly end: number } | null {
  if (at + 2 > der.length) return null;
  const tag = der[at] ?? 0;
  let length = der[at + 1] ?? 0;
  let content = at + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 3 || content + bytes > der.length) return null;
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + (der[content + i] ?? 0);
    content += bytes;
  }
  const end = content + length;
  return end <= der.length ? { tag, content, end } : null;
}

const SEQUENCE = 0x30;
/** tbsCertificate's `[0] EXPLICIT Version` (absent for v1). */
const VERSION_TAG = 0xa0;

/**
 * RFC 5280 4.1: Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
 * signature, issuer, validity, subject, subjectPublicKeyInfo, ... }, ... }. The whole SPKI element, or null.
 */
export function subjectPublicKeyInfo(der: Uint8Array): Buffer | null {
  const certificate = derElement(der, 0);
  if (certificate?.tag !== SEQUENCE) return null;
  const tbs = derElement(der, certificate.content);
  if (tbs?.tag !== SEQUENCE) return null;
  let at = tbs.content;
  let element = derElement(der, at);
  if (element?.tag === VERSION_TAG) element = derElement(der, (at = element.end));
  // serialNumber, signature, issuer, validity, subject
  for (let skip = 0; skip < 5; skip++) {
    if (element === null || element.end > tbs.end) return null;
    element = derElement(der, (at = element.end));
  }
  if (element?.tag !== SEQUENCE || element.end > tbs.end) return null;
  return Buffer.from(der.buffer, der.byteOffset + at, element.end - at);
}

/**
 * Node renders the SAN extension as `TYPE:value` entries joined by ", "; a value holding a comma, quote or other
 * special character is written as a JSON string (since the fix for CVE-2021-44532), so splitting on ", " alone
 * could be fooled by a crafted DNS name. This reads the entries one by one.
 */
export function subjectAltNameUris(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  const uris: string[] = [];
  const entry = /([A-Za-z ]+):(?:"((?:[^"\\]|\\.)*)"|([^,]*))(?:, |$)/y;
  let match: RegExpExecArray | null;
  while (entry.lastIndex < subjectAltName.length && (match = entry.exec(subjectAltName)) !== null) {
    const [, type, quoted, plain] = match;
    if (type !== 'URI') continue;
    const value = quoted !== undefined ? parseJsonString(quoted) : plain;
    if (value !== undefined && value !== null) uris.push(value);
  }
  return uris;
}

function parseJsonString(body: string): string | null {
  try {
    const value: unknown = JSON.parse(`"${body}"`);
    return typeof value === 'string' ? value : null;
  } catch {
    return null;
  }
}
