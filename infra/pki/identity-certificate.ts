/**
 * The device identity certificate: what a chip's manufacturer burns in (Azure Sphere: a per-chip ECC key whose
 * certificate the silicon vendor signs). One place builds it and one place checks it, so the service, the fixtures
 * and the verification agree on its shape.
 */
import { deviceIdFromPublicKey, deviceIdFromUri, deviceIdUri } from '../../contract/identity.js';
import {
  certificatePublicKeyPoint,
  certificateFacts,
  isSignedBy,
  issueCertificate,
  subjectAltNameUris,
  type CryptoKey,
  type DistinguishedName,
} from './x509.js';

/** A chip's identity outlives the device: Azure Sphere identity certificates are long-lived too. */
export const IDENTITY_VALID_YEARS = 20;
export const IDENTITY_ORGANIZATION = 'Spheregate devices';

export interface SigningCa {
  readonly certificatePem: string;
  readonly privateKey: CryptoKey;
}

/** CN holds the first 64 characters of the ID (the X.520 upper bound for a CN); the SAN URI holds all of it. */
export const identitySubject = (deviceId: string): DistinguishedName => [
  { CN: deviceId.slice(0, 64) },
  { O: IDENTITY_ORGANIZATION },
];

export async function signIdentityCertificate(opts: {
  manufacturingCa: SigningCa;
  publicKey: CryptoKey;
  deviceId: string;
  validFrom: Date;
  /** @default validFrom + IDENTITY_VALID_YEARS years */
  validTo?: Date;
}): Promise<string> {
  const validTo = opts.validTo ?? addYears(opts.validFrom, IDENTITY_VALID_YEARS);
  return issueCertificate({
    issuer: opts.manufacturingCa,
    publicKey: opts.publicKey,
    subject: identitySubject(opts.deviceId),
    validFrom: opts.validFrom,
    validTo,
    extKeyUsage: 'clientAuth',
    sanUri: [deviceIdUri(opts.deviceId)],
  });
}

export type IdentityCheck = { ok: true; deviceId: string } | { ok: false; reason: string };

/**
 * Signed by the manufacturing CA, valid at `now`, a P-256 key, and exactly one device-ID SAN equal to the ID
 * derived from that key (a certificate naming another device's ID must not pass as that device). Never throws.
 */
export async function checkIdentityCertificate(
  certificatePem: string,
  trust: { manufacturingCaPem: string; now: Date },
): Promise<IdentityCheck> {
  let notBefore: Date;
  let notAfter: Date;
  try {
    ({ notBefore, notAfter } = certificateFacts(certificatePem));
  } catch {
    return { ok: false, reason: 'not a PEM X.509 certificate' };
  }
  if (!(await signedBy(certificatePem, trust.manufacturingCaPem))) {
    return { ok: false, reason: 'not signed by the device manufacturing CA' };
  }
  if (trust.now < notBefore) return { ok: false, reason: 'the certificate is not yet valid' };
  if (trust.now > notAfter) return { ok: false, reason: 'the certificate has expired' };
  const point = await certificatePublicKeyPoint(certificatePem);
  if (!point) return { ok: false, reason: 'the key is not ECDSA P-256' };
  const derivedId = deviceIdFromPublicKey(point);
  const sanIds = subjectAltNameUris(certificatePem).map(deviceIdFromUri).filter((id) => id !== null);
  if (sanIds.length !== 1) return { ok: false, reason: 'the certificate must name exactly one device ID in its SAN' };
  if (sanIds[0] !== derivedId) return { ok: false, reason: 'the device ID in the SAN does not match the certificate key' };
  return { ok: true, deviceId: derivedId };
}

async function signedBy(certificatePem: string, issuerPem: string): Promise<boolean> {
  try {
    return await isSignedBy(certificatePem, issuerPem);
  } catch {
    return false;
  }
}

export function addYears(from: Date, years: number): Date {
  const to = new Date(from.getTime());
  to.setUTCFullYear(to.getUTCFullYear() + years);
  return to;
}
