import 'reflect-metadata';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, readdir, rm, stat, unlink } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import type { Clock } from '../../domain/shared/clock.js';
import { silentLogger } from '../../domain/shared/logger.js';
import { loadOrCreatePki, type LoadedPki } from './dev-pki.js';
import { createCsr, createSelfSignedCa, exportPrivateKeyPem, generateKeyPair, issueCertificate, subjectAltNameDns, subjectAltNameIps } from './x509.js';

const DAY = 86_400_000;
const fixedClock = (at: Date): Clock => ({ now: () => at });

describe('development PKI', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'spheregate-pki-'));
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  const load = (extra: Partial<Parameters<typeof loadOrCreatePki>[0]> = {}): Promise<LoadedPki> =>
    loadOrCreatePki({ dataDir, hostnames: [], log: silentLogger, ...extra });

  const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

  it('When started for the first time, then it creates root, manufacturing CA and server certificate with private modes', async () => {
    const loaded = await load();
    const dir = join(dataDir, 'pki');
    expect((await readdir(dir)).sort()).toEqual(
      ['manufacturing-ca.key.pem', 'manufacturing-ca.pem', 'root-ca.key.pem', 'root-ca.pem', 'server.key.pem', 'server.pem'].sort(),
    );
    expect(await mode(dir)).toBe(0o700);
    for (const key of ['root-ca.key.pem', 'manufacturing-ca.key.pem', 'server.key.pem']) expect(await mode(join(dir, key))).toBe(0o600);
    expect(await readFile(join(dir, 'root-ca.pem'), 'utf8')).toBe(loaded.rootCaPem);

    const root = new X509Certificate(loaded.rootCaPem);
    const manufacturing = new X509Certificate(loaded.manufacturingCaPem);
    const server = new X509Certificate(loaded.server.certificatePem);
    // Both CAs are self-signed trust anchors of their own, valid 20 years.
    expect(root.ca && root.verify(root.publicKey)).toBe(true);
    expect(manufacturing.ca && manufacturing.verify(manufacturing.publicKey)).toBe(true);
    expect(manufacturing.verify(root.publicKey)).toBe(false);
    const years = (c: X509Certificate) => (Date.parse(c.validTo) - Date.parse(c.validFrom)) / (365.25 * DAY);
    expect(years(root)).toBeCloseTo(20, 1);
    expect(years(manufacturing)).toBeCloseTo(20, 1);
    expect(server.verify(root.publicKey)).toBe(true);
    expect(server.ca).toBe(false);
    expect(years(server)).toBeCloseTo(1, 1);
    expect(subjectAltNameDns(loaded.server.certificatePem)).toEqual(['localhost']);
    expect(subjectAltNameIps(loaded.server.certificatePem)).toEqual(['127.0.0.1', '::1']);
    expect(loaded.server.chainPem).toBe(loaded.server.certificatePem);
    expect(loaded.server.keyPem).toBe(await readFile(join(dir, 'server.key.pem'), 'utf8'));
  });

  it('When started again, then it reuses every certificate and key byte for byte', async () => {
    const first = await load({ hostnames: ['sphere.example'] });
    const files = await readAll(join(dataDir, 'pki'));
    const second = await load({ hostnames: ['sphere.example'] });
    expect(second.rootCaPem).toBe(first.rootCaPem);
    expect(second.manufacturingCaPem).toBe(first.manufacturingCaPem);
    expect(second.server).toEqual(first.server);
    expect(await readAll(join(dataDir, 'pki'))).toEqual(files);
  });

  it('serves a certificate node tls accepts for localhost and 127.0.0.1 with the root as trust anchor', async () => {
    const loaded = await load();
    for (const host of ['localhost', '127.0.0.1']) {
      expect(await serverHandshake(loaded, host)).toBe('ok');
    }
  });

  it('When the configured hostnames change, then the server certificate is renewed under the same root', async () => {
    const first = await load({ hostnames: ['a.example'] });
    const second = await load({ hostnames: ['b.example', '10.1.2.3', ' B.example. '] });
    expect(second.rootCaPem).toBe(first.rootCaPem);
    expect(second.server.certificatePem).not.toBe(first.server.certificatePem);
    expect(second.server.keyPem).not.toBe(first.server.keyPem);
    expect(subjectAltNameDns(second.server.certificatePem)).toEqual(['localhost', 'b.example']);
    expect(subjectAltNameIps(second.server.certificatePem)).toEqual(['127.0.0.1', '::1', '10.1.2.3']);
    const third = await load({ hostnames: ['10.1.2.3', 'b.example'] });
    expect(third.server.certificatePem).toBe(second.server.certificatePem);
  });

  it('When the server certificate has expired, then it is renewed and the CAs are kept', async () => {
    const start = new Date('2030-01-01T00:00:00Z');
    const first = await load({ clock: fixedClock(start) });
    const later = await load({ clock: fixedClock(new Date(start.getTime() + 400 * DAY)) });
    expect(later.rootCaPem).toBe(first.rootCaPem);
    expect(later.manufacturingCaPem).toBe(first.manufacturingCaPem);
    expect(later.server.certificatePem).not.toBe(first.server.certificatePem);
    expect(Date.parse(new X509Certificate(later.server.certificatePem).validTo)).toBeGreaterThan(start.getTime() + 700 * DAY);
  });

  it('When a CA key has gone missing, then it refuses to start instead of silently replacing the CA', async () => {
    await load();
    await unlink(join(dataDir, 'pki', 'root-ca.key.pem'));
    await expect(load()).rejects.toThrow(/root-ca\.key\.pem is missing/);
  });

  it('When the operator brings a server certificate, then it is used as given and not written to the data dir', async () => {
    const ca = await createSelfSignedCa({ subject: 'CN=Operator CA', validDays: 10 });
    const keys = await generateKeyPair();
    const certificatePem = await issueCertificate({
      issuer: { certificatePem: ca.certificatePem, privateKey: ca.keyPair.privateKey },
      publicKey: keys.publicKey,
      subject: 'CN=sphere.example',
      validDays: 5,
      extKeyUsage: 'serverAuth',
      sanDns: ['sphere.example'],
    });
    const keyPem = await exportPrivateKeyPem(keys.privateKey);
    const loaded = await load({ serverCertificate: { certificatePem: certificatePem + ca.certificatePem, keyPem } });
    expect(loaded.server).toEqual({ certificatePem, keyPem, chainPem: certificatePem + ca.certificatePem });
    expect(await readdir(join(dataDir, 'pki'))).not.toContain('server.pem');

    const otherKey = await exportPrivateKeyPem((await generateKeyPair()).privateKey);
    await expect(load({ serverCertificate: { certificatePem, keyPem: otherKey } })).rejects.toThrow(/does not belong/);
  });

  it('issues identity certificates that pass mutual TLS against the manufacturing CA', async () => {
    const loaded = await load();
    const keys = await generateKeyPair();
    const identity = await loaded.pki.issueIdentityCertificate(await createCsr(keys, 'CN=ignored'));
    const result = await mutualHandshake(loaded, { cert: identity.certificatePem, key: await exportPrivateKeyPem(keys.privateKey) });
    expect(result).toBe('ok');
  });
});

async function readAll(dir: string): Promise<Record<string, string>> {
  const names = await readdir(dir);
  return Object.fromEntries(await Promise.all(names.map(async (n) => [n, await readFile(join(dir, n), 'utf8')] as const)));
}

async function serverHandshake(loaded: LoadedPki, host: string): Promise<string> {
  return withServer({ key: loaded.server.keyPem, cert: loaded.server.chainPem }, (port) =>
    connect({ host: '127.0.0.1', servername: host === 'localhost' ? host : undefined, port, ca: loaded.rootCaPem }),
  );
}

async function mutualHandshake(loaded: LoadedPki, client: { cert: string; key: string }): Promise<string> {
  return withServer(
    { key: loaded.server.keyPem, cert: loaded.server.chainPem, ca: loaded.manufacturingCaPem, requestCert: true, rejectUnauthorized: true },
    (port) => connect({ host: '127.0.0.1', servername: 'localhost', port, ca: loaded.rootCaPem, ...client }),
  );
}

async function withServer(options: tls.TlsOptions, run: (port: number) => Promise<string>): Promise<string> {
  const server = tls.createServer(options, (socket) => socket.end('hi'));
  server.on('tlsClientError', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    return await run((server.address() as AddressInfo).port);
  } finally {
    server.close();
    await once(server, 'close');
  }
}

function connect(options: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ ...options, rejectUnauthorized: true });
    const done = (result: string) => {
      socket.destroy();
      resolve(result);
    };
    socket.once('data', () => done('ok'));
    socket.once('error', (e) => done(e.message));
    socket.once('close', () => done('closed'));
  });
}
