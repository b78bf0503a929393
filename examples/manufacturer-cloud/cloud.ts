/**
 * A manufacturer's cloud as a relying party of Spheregate: a TLS server that admits a device only with a
 * certificate its own tenant CA issued (after remote attestation), unrevoked. It trusts exactly the chain
 * Spheregate publishes for the tenant (`caCertificateChain`), checks every client against the tenant's CRL
 * (`GET /tenants/{id}/crl`, refreshed on an interval and on demand), and then requires the certificate to name
 * its tenant in the SAN URI `urn:spheregate:tenant:<id>` — a certificate of another tenant fails the chain
 * already; the URI check keeps a platform-root-signed certificate of some other kind out too.
 *
 * It answers each admitted device with one line, `hello <deviceId>`, and closes.
 */
import { createServer, type Server, type TLSSocket } from 'node:tls';

export interface ManufacturerCloudOptions {
  readonly tenantId: string;
  /** PEM: the tenant's CAs and the platform root, as caCertificateChain returns them. */
  readonly chainPem: string;
  /** Spheregate's HTTP base URL, e.g. http://localhost:4000 (the CRL is fetched from it). */
  readonly spheregateUrl: string;
  /** The cloud's own server certificate and key (PEM). */
  readonly serverCertificatePem: string;
  readonly serverKeyPem: string;
  readonly port?: number;
  readonly host?: string;
  /** @default 60000 */
  readonly crlRefreshMs?: number;
}

export interface ManufacturerCloud {
  readonly port: number;
  /** Fetches the CRL now and uses it for new connections. */
  refreshCrl(): Promise<void>;
  close(): Promise<void>;
}

const DEVICE_URI = /^URI:urn:spheregate:device:([0-9A-F]{128})$/;

export async function startManufacturerCloud(opts: ManufacturerCloudOptions): Promise<ManufacturerCloud> {
  const crlUrl = new URL(`/tenants/${encodeURIComponent(opts.tenantId)}/crl`, opts.spheregateUrl);
  const tlsOptions = (crl: string[]) => ({
    key: opts.serverKeyPem,
    cert: opts.serverCertificatePem,
    ca: opts.chainPem,
    crl,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2' as const,
  });
  /** One entry per CRL: node reads only the first CRL of each string it is given. */
  const fetchCrl = async (): Promise<string[]> => {
    const res = await fetch(crlUrl);
    if (!res.ok) throw new Error(`CRL download from ${crlUrl.href} failed: HTTP ${res.status}`);
    return (await res.text()).match(/-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----/g) ?? [];
  };

  const server: Server = createServer(tlsOptions(await fetchCrl()), (socket: TLSSocket) => {
    const deviceId = admittedDevice(socket, opts.tenantId);
    if (deviceId === null) {
      socket.end('refused: not a device of this tenant\n');
      return;
    }
    socket.end(`hello ${deviceId}\n`);
  });
  // Refused handshakes (unknown CA, revoked, expired) are the point of this server; nothing to do but drop them.
  server.on('tlsClientError', (_error, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');

  const refreshCrl = async (): Promise<void> => server.setSecureContext(tlsOptions(await fetchCrl()));
  const timer = setInterval(() => void refreshCrl().catch(() => undefined), opts.crlRefreshMs ?? 60_000);
  timer.unref();

  return {
    port: address.port,
    refreshCrl,
    close: async () => {
      clearInterval(timer);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The device ID of a verified client certificate that names this tenant, else null. */
function admittedDevice(socket: TLSSocket, tenantId: string): string | null {
  const certificate = socket.getPeerX509Certificate();
  if (!socket.authorized || !certificate) return null;
  const names = (certificate.subjectAltName ?? '').split(', ');
  if (!names.includes(`URI:urn:spheregate:tenant:${tenantId}`)) return null;
  const device = names.map((n) => DEVICE_URI.exec(n)?.[1]).find((id) => id !== undefined);
  return device ?? null;
}
