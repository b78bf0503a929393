import { X509Certificate } from 'node:crypto';
import { connect, type TLSSocket } from 'node:tls';
import { makeDeviceIdentity, makeTestPki, type TestPki } from '../test/fixtures/pki.js';
import { listenTls, servedChain } from './tls-listener.js';

const certificatesIn = (pem: string): string[] => (pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map((c) => new X509Certificate(c).fingerprint256);
const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;
const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => silent };

let pki: TestPki;
beforeAll(async () => {
  pki = await makeTestPki();
});

describe('servedChain', () => {
  test('a lone server certificate is followed by its issuer among the trust anchors', () => {
    const chain = servedChain(pki.server.certificatePem, [pki.manufacturingCa.certificatePem, pki.root.certificatePem]);
    expect(certificatesIn(chain)).toEqual([fingerprint(pki.server.certificatePem), fingerprint(pki.root.certificatePem)]);
  });

  test('a configured chain is served as it is', () => {
    const configured = `${pki.server.certificatePem}\n${pki.root.certificatePem}`;
    expect(servedChain(configured, [pki.manufacturingCa.certificatePem])).toBe(configured);
  });

  test('a certificate whose issuer is no trust anchor is served alone', () => {
    const chain = servedChain(pki.server.certificatePem, [pki.manufacturingCa.certificatePem]);
    expect(certificatesIn(chain)).toEqual([fingerprint(pki.server.certificatePem)]);
  });
});

describe('listenTls', () => {
  test('a device with a trusted identity certificate completes mutual TLS and is verified against the platform root', async () => {
    const device = await makeDeviceIdentity(pki.manufacturingCa);
    let accepted: (socket: TLSSocket) => void = () => undefined;
    const serverSide = new Promise<TLSSocket>((resolve) => (accepted = resolve));
    const listener = await listenTls({
      tls: { certificatePem: pki.server.certificatePem, keyPem: pki.server.keyPem, trustAnchorsPem: [pki.manufacturingCa.certificatePem, pki.root.certificatePem] },
      port: 0,
      host: '127.0.0.1',
      handshakeTimeoutMs: 5000,
      log: silent,
      onSecureConnection: (socket) => accepted(socket),
    });
    try {
      const client = connect({ host: '127.0.0.1', port: listener.port, servername: 'localhost', ca: pki.root.certificatePem, key: device.keyPem, cert: device.certificatePem });
      await new Promise<void>((resolve, reject) => client.once('secureConnect', resolve).once('error', reject));
      expect(client.authorized).toBe(true);
      // The server certificate, verified by the client up to the platform root.
      const server = client.getPeerCertificate(true);
      expect([server.fingerprint256, server.issuerCertificate.fingerprint256]).toEqual([fingerprint(pki.server.certificatePem), fingerprint(pki.root.certificatePem)]);
      // The server side sees the device's verified identity certificate.
      const socket = await serverSide;
      expect(socket.authorized).toBe(true);
      expect(socket.getPeerX509Certificate()?.fingerprint256).toBe(fingerprint(device.certificatePem));
      expect(listener.handshakeCounts().handshakes).toBe(1);
      client.destroy();
    } finally {
      await listener.close();
    }
  });
});
