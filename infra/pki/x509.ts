/**
 * Thin helpers over @peculiar/x509 on Node's WebCrypto. Everything is ECDSA P-256 / SHA-256: the one algorithm an
 * Azure Sphere-class chip offers, and one that node's TLS stack accepts for both server and client certificates.
 */
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata API loaded first.
import 'reflect-metadata';
import { createHash, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { CertificateFacts } from '../../domain/pki/pki.port.js';

export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto);

const subtle = webcrypto.subtle;
const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

/** Extractable by default because CA keys are written to the key store; pass false for keys that must stay put. */
export async function generateKeyPair(extractable = true): Promise<CryptoKeyPair> {
  return subtle.generateKey(EC_KEY, extractable, ['sign', 'verify']);
}

/** PKCS#8 PEM ("PRIVATE KEY"), the form node:tls reads. The key must be extractable. */
export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  const der = await subtle.exportKey('pkcs8', key);
  return withNewline(x509.PemConverter.encode(der, 'PRIVATE KEY'));
}

export async function importPrivateKeyPem(pem: string, extractable = false): Promise<CryptoKey> {
  const der = x509.PemConverter.decodeFirst(pem);
  return subtle.importKey('pkcs8', der, EC_KEY, extractable, ['sign']);
}

/** The uncompressed SEC1 point (0x04 || X || Y, 65 bytes) of a P-256 public key. */
export async function publicKeyPoint(publicKey: CryptoKey): Promise<Uint8Array> {
  return new Uint8Array(await subtle.exportKey('raw', publicKey));
}

export type ExtendedKeyUsageName = 'serverAuth' | 'clientAuth' | 'codeSigning' | 'emailProtection' | 'timeStamping' | 'ocspSigning';

/**
 * A subject: an RFC 4514 string for fixed names ("CN=Spheregate Root, O=Spheregate"), or attributes in order
 * ([{ CN: name }, { O: 'Spheregate' }]) when a value comes from a user and may hold commas or equals signs.
 */
export type DistinguishedName = string | ReadonlyArray<Readonly<Record<string, string>>>;

/** Either an explicit end or a number of days from the start. */
type ValidityEnd = { notAfter: Date; validDays?: never } | { validDays: number; notAfter?: never };

export type SelfSignedCaOptions = {
  subject: DistinguishedName;
  /** @default now */
  notBefore?: Date;
  /** Omitted: no limit on intermediate CAs below this one. */
  pathLength?: number;
} & ValidityEnd;

export interface CaMaterial {
  certificatePem: string;
  keyPair: CryptoKeyPair;
}

export async function createSelfSignedCa(opts: SelfSignedCaOptions): Promise<CaMaterial> {
  const keyPair = await generateKeyPair(true);
  const notBefore = opts.notBefore ?? new Date();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name: toX509Name(opts.subject),
    notBefore,
    notAfter: validityEnd(notBefore, opts),
    keys: keyPair,
    signingAlgorithm: SIGNING,
    extensions: [
      ...caExtensions(opts.pathLength),
      await x509.SubjectKeyIdentifierExtension.create(keyPair.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(keyPair.publicKey),
    ],
  });
  return { certificatePem: withNewline(certificate.toString('pem')), keyPair };
}

export type IssueCertificateOptions = {
  issuer: { certificatePem: string; privateKey: CryptoKey };
  publicKey: CryptoKey;
  subject: DistinguishedName;
  /** @default now */
  validFrom?: Date;
  /** Make a (subordinate) CA instead of a leaf. @default false */
  isCa?: boolean;
  /** Only for CAs: how many CAs may follow below. */
  pathLength?: number;
  /** Required for leaves (node:tls checks it); optional for CAs. */
  extKeyUsage?: ExtendedKeyUsageName | readonly ExtendedKeyUsageName[];
  sanDns?: readonly string[];
  sanIp?: readonly string[];
  sanUri?: readonly string[];
} & ({ validTo: Date; validDays?: never } | { validDays: number; validTo?: never });

/** Signs a certificate for `publicKey` with the issuer's key. Returns PEM. */
export async function issueCertificate(opts: IssueCertificateOptions): Promise<string> {
  const issuerCertificate = new x509.X509Certificate(opts.issuer.certificatePem);
  const notBefore = opts.validFrom ?? new Date();
  const notAfter = opts.validTo ?? new Date(notBefore.getTime() + (opts.validDays ?? 0) * DAY_MS);
  if (notAfter <= notBefore) throw new Error('certificate validity must end after it starts');

  const extensions: x509.Extension[] = opts.isCa
    ? caExtensions(opts.pathLength)
    : [
        new x509.BasicConstraintsExtension(false, undefined, true),
        // ECDSA keys only sign: a TLS 1.3 / ECDHE handshake needs nothing more from a leaf.
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      ];
  const usages = opts.extKeyUsage === undefined ? [] : typeof opts.extKeyUsage === 'string' ? [opts.extKeyUsage] : opts.extKeyUsage;
  if (usages.length > 0) {
    extensions.push(new x509.ExtendedKeyUsageExtension(usages.map((u) => x509.ExtendedKeyUsage[u])));
  } else if (!opts.isCa) {
    throw new Error('a leaf certificate needs an extKeyUsage');
  }
  const names = [
    ...(opts.sanDns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(opts.sanIp ?? []).map((value) => ({ type: 'ip' as const, value })),
    ...(opts.sanUri ?? []).map((value) => ({ type: 'url' as const, value })),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(opts.publicKey));
  const issuerSki = issuerCertificate.getExtension(x509.SubjectKeyIdentifierExtension);
  extensions.push(
    issuerSki
      ? new x509.AuthorityKeyIdentifierExtension(issuerSki.keyId)
      : await x509.AuthorityKeyIdentifierExtension.create(issuerCertificate.publicKey),
  );

  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: toX509Name(opts.subject),
    // The issuer's encoded name, byte for byte, so path building matches it exactly.
    issuer: issuerCertificate.subjectName,
    notBefore,
    notAfter,
    publicKey: opts.publicKey,
    signingKey: opts.issuer.privateKey,
    signingAlgorithm: SIGNING,
    extensions,
  });
  return withNewline(certificate.toString('pem'));
}

/** Facts the domain keeps about a certificate (see domain/pki/pki.port.ts). Throws on anything but one PEM certificate. */
export function certificateFacts(pem: string): CertificateFacts {
  const certificate = new x509.X509Certificate(pem);
  return {
    certificatePem: withNewline(certificate.toString('pem')),
    serialNumber: certificate.serialNumber.toUpperCase(),
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
    subject: certificate.subject,
    issuer: certificate.issuer,
    sha256Thumbprint: sha256Hex(certificate.rawData),
    sha1Thumbprint: createHash('sha1').update(Buffer.from(certificate.rawData)).digest('hex').toUpperCase(),
  };
}

/** All certificates in a PEM bundle, in order, each re-encoded as its own PEM block. */
export function splitPemCertificates(bundle: string): string[] {
  return x509.PemConverter.decodeWithHeaders(bundle)
    .filter((block) => block.type === 'CERTIFICATE')
    .map((block) => withNewline(x509.PemConverter.encode(block.rawData, 'CERTIFICATE')));
}

/** True when `issuerPem`'s key signed `certificatePem` (signature only: no dates, no chain). */
export async function isSignedBy(certificatePem: string, issuerPem: string): Promise<boolean> {
  const certificate = new x509.X509Certificate(certificatePem);
  const issuer = new x509.X509Certificate(issuerPem);
  return certificate.verify({ publicKey: issuer.publicKey, signatureOnly: true });
}

/** The SAN URIs of a certificate (empty when it has none). */
export function subjectAltNameUris(pem: string): string[] {
  return subjectAltNames(pem, 'url');
}

export function subjectAltNameDns(pem: string): string[] {
  return subjectAltNames(pem, 'dns');
}

export function subjectAltNameIps(pem: string): string[] {
  return subjectAltNames(pem, 'ip');
}

/** The certificate's public key as an uncompressed P-256 point, or null when it is not a P-256 key. */
export async function certificatePublicKeyPoint(pem: string): Promise<Uint8Array | null> {
  const publicKey = new x509.X509Certificate(pem).publicKey;
  return p256Point(publicKey);
}

export async function createCsr(keyPair: CryptoKeyPair, subject: DistinguishedName): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: toX509Name(subject),
    keys: keyPair,
    signingAlgorithm: SIGNING,
  });
  return withNewline(csr.toString('pem'));
}

export type CsrCheck =
  | { ok: true; subject: string; /** Uncompressed SEC1 P-256 point. */ publicKeyPoint: Uint8Array; publicKey: CryptoKey }
  | { ok: false; reason: string };

/**
 * Parses a PKCS#10 request and checks its self-signature (proof the requester holds the private key).
 * Only P-256 keys pass. Never throws: a bad CSR is an answer, not an accident.
 */
export async function verifyCsr(pem: string): Promise<CsrCheck> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch {
    return { ok: false, reason: 'not a PEM PKCS#10 certificate request' };
  }
  const point = await p256Point(csr.publicKey);
  if (!point) return { ok: false, reason: 'the key is not ECDSA P-256' };
  let signatureValid = false;
  try {
    signatureValid = await csr.verify();
  } catch {
    signatureValid = false;
  }
  if (!signatureValid) return { ok: false, reason: 'the request signature does not verify' };
  const publicKey: CryptoKey = await csr.publicKey.export(EC_KEY, ['verify']);
  return { ok: true, subject: csr.subject, publicKeyPoint: point, publicKey };
}

// -- internals ----------------------------------------------------------------------------------------------

/** @peculiar/x509 ends PEM without a newline; bundles made by concatenation (chain files, `ca` lists) need one. */
function withNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

function toX509Name(name: DistinguishedName): string | x509.JsonName {
  if (typeof name === 'string') return name;
  return name.map((attributes) => Object.fromEntries(Object.entries(attributes).map(([type, value]) => [type, [value]])));
}

function caExtensions(pathLength: number | undefined): x509.Extension[] {
  return [
    new x509.BasicConstraintsExtension(true, pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
  ];
}

function validityEnd(notBefore: Date, end: ValidityEnd): Date {
  const notAfter = end.notAfter ?? new Date(notBefore.getTime() + (end.validDays ?? 0) * DAY_MS);
  if (notAfter <= notBefore) throw new Error('certificate validity must end after it starts');
  return notAfter;
}

/**
 * 128 random bits, made positive and without a leading zero byte: RFC 5280 §4.1.2.2 asks for a positive serial
 * of at most 20 octets, and unpredictable serials are what CAs must use since the MD5 collision attacks.
 */
function randomSerialHex(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = 0x40 | ((bytes[0] ?? 0) & 0x3f);
  return Buffer.from(bytes).toString('hex');
}

function sha256Hex(data: ArrayBuffer): string {
  return createHash('sha256').update(Buffer.from(data)).digest('hex').toUpperCase();
}

function subjectAltNames(pem: string, type: 'url' | 'dns' | 'ip'): string[] {
  const san = new x509.X509Certificate(pem).getExtension(x509.SubjectAlternativeNameExtension);
  if (!san) return [];
  return san.names.items.filter((n) => n.type === type).map((n) => n.value);
}

/** Named-curve check on the SubjectPublicKeyInfo, then the raw point; null for RSA, other curves, Ed25519. */
async function p256Point(publicKey: x509.PublicKey): Promise<Uint8Array | null> {
  const algorithm: unknown = publicKey.algorithm;
  if (!isEcP256(algorithm)) return null;
  try {
    const key: CryptoKey = await publicKey.export(EC_KEY, ['verify']);
    return publicKeyPoint(key);
  } catch {
    return null;
  }
}

function isEcP256(algorithm: unknown): boolean {
  if (typeof algorithm !== 'object' || algorithm === null) return false;
  const name: unknown = Reflect.get(algorithm, 'name');
  const curve: unknown = Reflect.get(algorithm, 'namedCurve');
  return (name === 'ECDSA' || name === 'ECDH') && curve === 'P-256';
}
