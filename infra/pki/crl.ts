/** X.509 v2 CRLs signed by a tenant CA (RFC 5280 §5): what relying parties check device certificates against. */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { RevokedEntry } from '../../domain/pki/pki.port.js';
import type { SigningCa } from './identity-certificate.js';

const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
/** id-ce-cRLNumber. */
const CRL_NUMBER_OID = '2.5.29.20';

export async function signCrl(opts: {
  readonly ca: SigningCa;
  readonly crlNumber: number;
  readonly revoked: readonly RevokedEntry[];
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
}): Promise<string> {
  const issuer = new x509.X509Certificate(opts.ca.certificatePem);
  const ski = issuer.getExtension(x509.SubjectKeyIdentifierExtension);
  const crl = await x509.X509CrlGenerator.create({
    // The issuer's encoded name, byte for byte, so relying parties match the CRL to the CA.
    issuer: issuer.subjectName,
    thisUpdate: opts.thisUpdate,
    nextUpdate: opts.nextUpdate,
    signingAlgorithm: SIGNING,
    signingKey: opts.ca.privateKey,
    extensions: [
      ski ? new x509.AuthorityKeyIdentifierExtension(ski.keyId) : await x509.AuthorityKeyIdentifierExtension.create(issuer.publicKey),
      new x509.Extension(CRL_NUMBER_OID, false, derInteger(opts.crlNumber)),
    ],
    entries: opts.revoked.map((r) => ({ serialNumber: r.serialNumber, revocationDate: r.revokedAt })),
  });
  // RFC 7468 names it "X509 CRL"; openssl reads that label.
  return `${x509.PemConverter.encode(crl.rawData, 'X509 CRL')}\n`;
}

/** DER INTEGER of a non-negative number (CRLNumber ::= INTEGER (0..MAX)). */
function derInteger(value: number): ArrayBuffer {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError('CRL number must be a non-negative integer');
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  // A leading 1 bit would read as negative: prefix a zero byte.
  if (/^[89a-f]/.test(hex)) hex = `00${hex}`;
  const body = Buffer.from(hex, 'hex');
  return new Uint8Array([0x02, body.length, ...body]).buffer;
}
