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
import { createHash, type JsonWebKey, type X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { deviceIdFromPublicKey, deviceIdFromUri, DEVICE_ID_URI_PREFIX, tenantIdFromUri, TENANT_ID_URI_PREFIX } from '../contract/identity.js';

export type CertificateKind = 'identity' | 'tenant';

export interface PeerIdentity {
  /** 128 upper-case hex: the raw X||Y of the certificate's P-256 key, equal to the id in its SAN URI. */
  readonly deviceId: string;
  /** SHA-256 of the certificate's DER, upper-case hex (as domain CertificateFacts.sha256Thumbprint). */
  readonly sha256Thumbprint: string;
  readonly serialNumber: string;
  readonly notAfter: Date;
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
      serialNumber: certificate.serialNumber.toUpperCase(),
      notAfter: new Date(certificate.validTo),
      kind,
    },
  };
}

export const sha256Thumbprint = (certificate: X509Certificate): string =>
  createHash('sha256').update(certificate.raw).digest('hex').toUpperCase();

function deviceIdOfKey(certificate: X509Certificate): string | null {
  const key = certificate.publicKey;
  if (key.asymmetricKeyType !== 'ec') return null;
  // The JWK names the curve, so asymmetricKeyDetails (a second native call, per connection) is not needed; a
  // curve JWK cannot express makes export throw.
  let jwk: JsonWebKey;
  try {
    jwk = key.export({ format: 'jwk' });
  } catch {
    return null;
  }
  if (jwk.crv !== 'P-256' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') return null;
  const point = Buffer.concat([Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
  return point.length === 64 ? deviceIdFromPublicKey(point) : null;
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
