import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { X509Certificate as NodeX509Certificate } from 'node:crypto';
import {
  certificateFacts,
  certificatePublicKeyPoint,
  createCsr,
  createSelfSignedCa,
  exportPrivateKeyPem,
  generateKeyPair,
  importPrivateKeyPem,
  isSignedBy,
  issueCertificate,
  publicKeyPoint,
  splitPemCertificates,
  subjectAltNameUris,
  verifyCsr,
} from './x509.js';

async function makeChain() {
  const root = await createSelfSignedCa({ subject: 'CN=Test Root, O=Spheregate', validDays: 30 });
  const intermediateKeys = await generateKeyPair();
  const intermediatePem = await issueCertificate({
    issuer: { certificatePem: root.certificatePem, privateKey: root.keyPair.privateKey },
    publicKey: intermediateKeys.publicKey,
    subject: 'CN=Test Intermediate, O=Spheregate',
    validDays: 10,
    isCa: true,
    pathLength: 0,
  });
  const intermediate = { certificatePem: intermediatePem, privateKey: intermediateKeys.privateKey };

  const serverKeys = await generateKeyPair();
  const serverPem = await issueCertificate({
    issuer: intermediate,
    publicKey: serverKeys.publicKey,
    subject: 'CN=localhost',
    validDays: 1,
    extKeyUsage: 'serverAuth',
    sanDns: ['localhost'],
    sanIp: ['127.0.0.1', '::1'],
  });
  const clientKeys = await generateKeyPair();
  const clientPem = await issueCertificate({
    issuer: intermediate,
    publicKey: clientKeys.publicKey,
    subject: 'CN=device-1',
    validDays: 1,
    extKeyUsage: 'clientAuth',
    sanUri: ['urn:spheregate:device:1'],
  });
  return {
    root,
    intermediatePem,
    server: { cert: serverPem + intermediatePem, key: await exportPrivateKeyPem(serverKeys.privateKey) },
    client: { cert: clientPem + intermediatePem, key: await exportPrivateKeyPem(clientKeys.privateKey), pem: clientPem },
  };
}

type Handshake = { ok: true; peerSubject: string } | { ok: false; error: string };

/** Real sockets over loopback: both sides verify each other against the given roots. */
async function handshake(opts: {
  server: { cert: string; key: string; ca: string };
  client: { cert: string; key: string; ca: string; host: string };
}): Promise<Handshake> {
  const server = tls.createServer({ ...opts.server, requestCert: true, rejectUnauthorized: true }, (socket) => {
    socket.end('hello');
  });
  // A refused client surfaces on the server as a tlsClientError; the client sees the alert.
  server.on('tlsClientError', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise<Handshake>((resolve) => {
      const socket = tls.connect({
        host: opts.client.host === 'localhost' ? '127.0.0.1' : opts.client.host,
        servername: opts.client.host === 'localhost' ? 'localhost' : undefined,
        port,
        cert: opts.client.cert,
        key: opts.client.key,
        ca: opts.client.ca,
        rejectUnauthorized: true,
      });
      let settled = false;
      const settle = (result: Handshake) => {
        if (settled) return;
        settled = true;
        socket.destroy();
        resolve(result);
      };
      socket.on('data', () => settle({ ok: true, peerSubject: socket.getPeerCertificate().subject.CN ?? '' }));
      socket.on('error', (e) => settle({ ok: false, error: e.message }));
      socket.on('close', () => settle({ ok: false, error: 'closed before data' }));
    });
  } finally {
    server.close();
    await once(server, 'close');
  }
}

describe('x509 helpers', () => {
  it('When a server and a client both hold certificates of one chain, then node tls completes mutual authentication', async () => {
    const chain = await makeChain();
    const result = await handshake({
      server: { ...chain.server, ca: chain.root.certificatePem },
      client: { ...chain.client, ca: chain.root.certificatePem, host: 'localhost' },
    });
    expect(result).toEqual({ ok: true, peerSubject: 'localhost' });
  });

  it('When the client connects by IP address, then the IP SAN satisfies host verification', async () => {
    const chain = await makeChain();
    const result = await handshake({
      server: { ...chain.server, ca: chain.root.certificatePem },
      client: { ...chain.client, ca: chain.root.certificatePem, host: '127.0.0.1' },
    });
    expect(result.ok).toBe(true);
  });

  it('When the client certificate comes from another root, then the server refuses the handshake', async () => {
    const chain = await makeChain();
    const rogue = await makeChain();
    const result = await handshake({
      server: { ...chain.server, ca: chain.root.certificatePem },
      client: { ...rogue.client, ca: chain.root.certificatePem, host: 'localhost' },
    });
    expect(result.ok).toBe(false);
  });

  it('issues certificates whose facts, extensions and signatures read back correctly', async () => {
    const chain = await makeChain();
    const facts = certificateFacts(chain.client.pem);
    expect(facts.subject).toBe('CN=device-1');
    expect(facts.issuer).toBe('CN=Test Intermediate, O=Spheregate');
    expect(facts.serialNumber).toMatch(/^[0-9A-F]+$/);
    expect(facts.sha256Thumbprint).toBe(new NodeX509Certificate(chain.client.pem).fingerprint256.replaceAll(':', ''));
    expect(facts.notAfter.getTime() - facts.notBefore.getTime()).toBe(86_400_000);
    expect(subjectAltNameUris(chain.client.pem)).toEqual(['urn:spheregate:device:1']);
    expect(await isSignedBy(chain.client.pem, chain.intermediatePem)).toBe(true);
    expect(await isSignedBy(chain.client.pem, chain.root.certificatePem)).toBe(false);
    expect(splitPemCertificates(chain.client.cert)).toHaveLength(2);

    const node = new NodeX509Certificate(chain.intermediatePem);
    expect(node.ca).toBe(true);
    expect(new NodeX509Certificate(chain.client.pem).ca).toBe(false);
    expect(new NodeX509Certificate(chain.client.pem).keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
  });

  it('gives every certificate a distinct positive serial', async () => {
    const root = await createSelfSignedCa({ subject: 'CN=Serials', validDays: 1 });
    const keys = await generateKeyPair();
    const serials = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const pem = await issueCertificate({
        issuer: { certificatePem: root.certificatePem, privateKey: root.keyPair.privateKey },
        publicKey: keys.publicKey,
        subject: `CN=leaf ${i}`,
        validDays: 1,
        extKeyUsage: 'clientAuth',
      });
      const serial = certificateFacts(pem).serialNumber;
      expect(parseInt(serial.slice(0, 2), 16)).toBeLessThan(0x80);
      serials.add(serial);
    }
    expect(serials.size).toBe(5);
  });

  it('round-trips a private key through PKCS#8 PEM and imports it non-extractable by default', async () => {
    const keys = await generateKeyPair();
    const pem = await exportPrivateKeyPem(keys.privateKey);
    expect(pem).toContain('-----BEGIN PRIVATE KEY-----');
    const imported = await importPrivateKeyPem(pem);
    expect(imported.extractable).toBe(false);
    expect(imported.algorithm).toMatchObject({ name: 'ECDSA', namedCurve: 'P-256' });
  });

  it('accepts a well-signed P-256 CSR and reports its key', async () => {
    const keys = await generateKeyPair();
    const csr = await createCsr(keys, 'CN=device');
    const check = await verifyCsr(csr);
    expect(check.ok).toBe(true);
    if (!check.ok) return;
    expect(check.subject).toBe('CN=device');
    expect(Buffer.from(check.publicKeyPoint)).toEqual(Buffer.from(await publicKeyPoint(keys.publicKey)));
  });

  it('When a CSR is garbage, then verifyCsr says so instead of throwing', async () => {
    expect(await verifyCsr('hello')).toEqual({ ok: false, reason: 'not a PEM PKCS#10 certificate request' });
  });

  it('reads the P-256 point of a certificate key', async () => {
    const root = await createSelfSignedCa({ subject: 'CN=Point', validDays: 1 });
    const point = await certificatePublicKeyPoint(root.certificatePem);
    expect(point).not.toBeNull();
    expect(Buffer.from(point ?? [])).toEqual(Buffer.from(await publicKeyPoint(root.keyPair.publicKey)));
  });
});
