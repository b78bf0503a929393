/**
 * The development PKI: made on first start under `<dataDir>/pki/`, reused byte for byte afterwards.
 *
 *   root-ca.pem / .key.pem            platform root, self-signed, 20 years: signs the server certificate and tenant CAs
 *   manufacturing-ca.pem / .key.pem   device manufacturing CA, its OWN self-signed root, 20 years: it stands for the
 *                                     silicon vendor, and node tls wants a self-signed trust anchor for client certs
 *   server.pem / .key.pem             TLS server certificate, signed by the platform root, 1 year, SAN localhost +
 *                                     configured hostnames, 127.0.0.1, ::1 (renewed near expiry or when hostnames change)
 *   tenants/<tenantId>.pem / .key.pem tenant CAs, on demand (pki-service.ts)
 */
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Pki } from '../../domain/pki/pki.port.js';
import { systemClock, type Clock } from '../../domain/shared/clock.js';
import type { Logger } from '../../domain/shared/logger.js';
import { addYears, type SigningCa } from './identity-certificate.js';
import { KeyStore, keyMatchesCertificate, type StoredPair } from './key-store.js';
import { CLOCK_SKEW_ALLOWANCE_MS, DevPki } from './pki-service.js';
import {
  certificateFacts,
  createSelfSignedCa,
  exportPrivateKeyPem,
  generateKeyPair,
  isSignedBy,
  issueCertificate,
  splitPemCertificates,
  subjectAltNameDns,
  subjectAltNameIps,
} from './x509.js';

export const ROOT_CA_FILE = 'root-ca';
export const MANUFACTURING_CA_FILE = 'manufacturing-ca';
export const SERVER_CERTIFICATE_FILE = 'server';
export const CA_VALID_YEARS = 20;
export const SERVER_CERTIFICATE_VALID_DAYS = 365;
/** Renew the server certificate this long before it expires, so a long-running service never serves an expired one. */
export const SERVER_RENEWAL_MARGIN_DAYS = 30;
const DAY_MS = 86_400_000;
const ALWAYS_DNS = ['localhost'];
const ALWAYS_IPS = ['127.0.0.1', '::1'];

export interface LoadPkiOptions {
  readonly dataDir: string;
  /** Extra names (DNS names or IP addresses) the server certificate must carry besides localhost and loopback. */
  readonly hostnames: readonly string[];
  /** Bring your own: used as is (certificatePem may hold the chain) and not written to the data dir. */
  readonly serverCertificate?: { certificatePem: string; keyPem: string } | null;
  readonly log: Logger;
  /** @default systemClock */
  readonly clock?: Clock;
}

export interface ServerTlsMaterial {
  readonly certificatePem: string;
  /** PKCS#8 PEM. Secret: pass it to tls, never log it. */
  readonly keyPem: string;
  /** What node tls takes as `cert`: the server certificate followed by any intermediates. */
  readonly chainPem: string;
}

export interface LoadedPki {
  readonly pki: Pki;
  /** Platform root: the trust anchor devices and API clients use for the server certificate. */
  readonly rootCaPem: string;
  /** Trust anchor for device identity certificates: the broker's `ca`. */
  readonly manufacturingCaPem: string;
  readonly server: ServerTlsMaterial;
}

export async function loadOrCreatePki(opts: LoadPkiOptions): Promise<LoadedPki> {
  const clock = opts.clock ?? systemClock;
  const { log } = opts;
  const store = await KeyStore.open(join(opts.dataDir, 'pki'));

  const root = await loadOrCreateCa(store, ROOT_CA_FILE, 'CN=Spheregate Platform Root CA, O=Spheregate', clock, log);
  const manufacturingCa = await loadOrCreateCa(
    store,
    MANUFACTURING_CA_FILE,
    'CN=Spheregate Device Manufacturing CA, O=Spheregate Silicon',
    clock,
    log,
  );
  const server = opts.serverCertificate
    ? operatorServerCertificate(opts.serverCertificate, clock, log)
    : await loadOrCreateServerCertificate(store, root, opts.hostnames, clock, log);

  const pki = new DevPki({ store, root, manufacturingCa, clock, log });
  return { pki, rootCaPem: root.certificatePem, manufacturingCaPem: manufacturingCa.certificatePem, server };
}

async function loadOrCreateCa(store: KeyStore, file: string, subject: string, clock: Clock, log: Logger): Promise<SigningCa> {
  const existing = await store.readPair(file);
  if (existing) {
    const facts = certificateFacts(existing.certificatePem);
    if (facts.notAfter < clock.now()) log.warn({ file, notAfter: facts.notAfter.toISOString() }, 'CA certificate has expired');
    return { certificatePem: existing.certificatePem, privateKey: await KeyStore.importSigningKey(existing) };
  }
  const notBefore = startOfValidity(clock);
  const ca = await createSelfSignedCa({ subject, notBefore, notAfter: addYears(notBefore, CA_VALID_YEARS) });
  const pair = { certificatePem: ca.certificatePem, keyPem: await exportPrivateKeyPem(ca.keyPair.privateKey) };
  await store.writePair(file, pair);
  const facts = certificateFacts(pair.certificatePem);
  log.info({ file, subject: facts.subject, serialNumber: facts.serialNumber, notAfter: facts.notAfter.toISOString() }, 'created CA');
  return { certificatePem: pair.certificatePem, privateKey: await KeyStore.importSigningKey(pair) };
}

async function loadOrCreateServerCertificate(
  store: KeyStore,
  root: SigningCa,
  hostnames: readonly string[],
  clock: Clock,
  log: Logger,
): Promise<ServerTlsMaterial> {
  const wanted = wantedNames(hostnames);
  const existing = await store.readPair(SERVER_CERTIFICATE_FILE);
  if (existing) {
    const reason = await whyReplace(existing, root, wanted, clock);
    if (reason === null) return { ...existing, chainPem: existing.certificatePem };
    log.info({ reason }, 'renewing server certificate');
  }
  const keys = await generateKeyPair(true);
  const certificatePem = await issueCertificate({
    issuer: root,
    publicKey: keys.publicKey,
    subject: [{ CN: wanted.dns[0] ?? 'localhost' }, { O: 'Spheregate' }],
    validFrom: startOfValidity(clock),
    validTo: new Date(clock.now().getTime() + SERVER_CERTIFICATE_VALID_DAYS * DAY_MS),
    extKeyUsage: 'serverAuth',
    sanDns: wanted.dns,
    sanIp: wanted.ips,
  });
  const pair = { certificatePem, keyPem: await exportPrivateKeyPem(keys.privateKey) };
  await store.writePair(SERVER_CERTIFICATE_FILE, pair);
  const facts = certificateFacts(certificatePem);
  log.info({ dns: wanted.dns, ips: wanted.ips, notAfter: facts.notAfter.toISOString() }, 'created server certificate');
  return { ...pair, chainPem: certificatePem };
}

/** Null when the stored server certificate is still good for this configuration. */
async function whyReplace(existing: StoredPair, root: SigningCa, wanted: WantedNames, clock: Clock): Promise<string | null> {
  if (!(await isSignedBy(existing.certificatePem, root.certificatePem))) return 'not signed by the current platform root';
  const { notAfter } = certificateFacts(existing.certificatePem);
  if (notAfter.getTime() - clock.now().getTime() < SERVER_RENEWAL_MARGIN_DAYS * DAY_MS) return 'expired or about to expire';
  const dns = subjectAltNameDns(existing.certificatePem).map(canonicalDns);
  const ips = subjectAltNameIps(existing.certificatePem).map(canonicalIp);
  if (!sameSet(dns, wanted.dns) || !sameSet(ips, wanted.ips)) return 'configured hostnames changed';
  return null;
}

function operatorServerCertificate(
  given: { certificatePem: string; keyPem: string },
  clock: Clock,
  log: Logger,
): ServerTlsMaterial {
  const chain = splitPemCertificates(given.certificatePem);
  const leaf = chain[0];
  if (leaf === undefined) throw new Error('the configured server certificate file holds no PEM certificate');
  if (!keyMatchesCertificate(leaf, given.keyPem)) {
    throw new Error('the configured server key does not belong to the configured server certificate');
  }
  const facts = certificateFacts(leaf);
  if (facts.notAfter < clock.now()) log.warn({ notAfter: facts.notAfter.toISOString() }, 'the configured server certificate has expired');
  log.info({ subject: facts.subject, notAfter: facts.notAfter.toISOString() }, 'using the configured server certificate');
  return { certificatePem: leaf, keyPem: given.keyPem, chainPem: chain.join('') };
}

interface WantedNames {
  readonly dns: string[];
  readonly ips: string[];
}

/** Configured hostnames split into DNS names and IP addresses, always with localhost and loopback, deduplicated. */
function wantedNames(hostnames: readonly string[]): WantedNames {
  const names = hostnames.map((h) => h.trim()).filter((h) => h.length > 0);
  const ipsGiven = names.filter((h) => isIP(stripBrackets(h)) !== 0).map(canonicalIp);
  const dnsGiven = names.filter((h) => isIP(stripBrackets(h)) === 0).map(canonicalDns);
  return { dns: unique([...ALWAYS_DNS, ...dnsGiven]), ips: unique([...ALWAYS_IPS.map(canonicalIp), ...ipsGiven]) };
}

const canonicalDns = (name: string): string => name.toLowerCase().replace(/\.$/, '');
const stripBrackets = (ip: string): string => ip.replace(/^\[(.*)\]$/, '$1');

/** One spelling per address (IPv6 compressed, lower case), so "0:0:0:0:0:0:0:1" and "::1" compare equal. */
function canonicalIp(ip: string): string {
  const bare = stripBrackets(ip);
  if (isIP(bare) !== 6) return bare;
  return stripBrackets(new URL(`http://[${bare}]/`).hostname);
}

const unique = (values: string[]): string[] => [...new Set(values)];
const sameSet = (a: readonly string[], b: readonly string[]): boolean =>
  new Set(a).size === new Set(b).size && a.every((v) => b.includes(v));

function startOfValidity(clock: Clock): Date {
  return new Date(clock.now().getTime() - CLOCK_SKEW_ALLOWANCE_MS);
}
