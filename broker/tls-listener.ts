/**
 * Node's TLS server in front of aedes. Mutual TLS ends here: a device without a certificate from a trusted
 * identity CA never gets past the handshake, so aedes only ever sees authenticated peers.
 */
import { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { Logger } from '../domain/shared/logger.js';
import { errorSummary } from './errors.js';
import type { BrokerTlsOptions } from './options.js';

/** Finished handshakes since start, and how many of them resumed an earlier session (no certificate exchange). */
export interface TlsHandshakeCounts {
  readonly handshakes: number;
  readonly resumed: number;
}

export interface TlsListener {
  readonly server: Server;
  readonly port: number;
  handshakeCounts(): TlsHandshakeCounts;
  /** Stops accepting new connections; open ones go on. */
  stopAccepting(): void;
  /** Stops accepting, then destroys whatever is left (handshakes in progress, sockets aedes has let go of). */
  close(): Promise<void>;
}

export async function listenTls(opts: {
  readonly tls: BrokerTlsOptions;
  readonly port: number;
  readonly host: string | undefined;
  readonly handshakeTimeoutMs: number;
  readonly log: Logger;
  readonly onSecureConnection: (socket: TLSSocket) => void;
}): Promise<TlsListener> {
  const server = createServer({
    key: opts.tls.keyPem,
    cert: servedChain(opts.tls.certificatePem, opts.tls.trustAnchorsPem),
    ca: [...opts.tls.trustAnchorsPem],
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
    handshakeTimeout: opts.handshakeTimeoutMs,
  });
  const sockets = new Set<Socket>();
  // One handler for every socket ('close' is emitted with the socket as `this`), not a closure per connection.
  function forget(this: Socket): void {
    sockets.delete(this);
  }
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', forget);
  });
  server.on('tlsClientError', (error: Error & { code?: string }, socket: TLSSocket) => {
    // The handshake refusals: no certificate, an untrusted or expired one, an old protocol, a timeout.
    opts.log.warn(
      { remoteAddress: socket.remoteAddress ?? null, reason: error.code ?? errorSummary(error) },
      'TLS handshake refused',
    );
    // Node destroys the socket itself only when nobody listens to 'tlsClientError'; a handshake timeout would
    // otherwise leave the peer connected for as long as it likes.
    socket.destroy();
  });
  let handshakes = 0;
  let resumed = 0;
  server.on('secureConnection', (socket: TLSSocket) => {
    handshakes++;
    if (socket.isSessionReused()) resumed++;
    opts.onSecureConnection(socket);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => opts.log.error({ err: errorSummary(error) }, 'TLS server error'));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('TLS server has no TCP address');

  let closed: Promise<void> | null = null;
  const stopAccepting = (): Promise<void> => (closed ??= new Promise<void>((resolve) => server.close(() => resolve())));
  return {
    server,
    port: address.port,
    handshakeCounts: () => ({ handshakes, resumed }),
    stopAccepting: () => void stopAccepting(),
    close: async () => {
      const done = stopAccepting();
      for (const socket of sockets) socket.destroy();
      await done;
    },
  };
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/**
 * The chain the server sends: the configured one if it names more than the server certificate, else the server
 * certificate followed by its issuers among the trust anchors. Given a lone certificate, OpenSSL builds that same
 * chain itself, but on every handshake, checking each signature again (an ECDSA verification per connection, a
 * tenth of the handshake's crypto); given the chain, it sends it as it is. Devices see the same certificates.
 */
export function servedChain(certificatePem: string, trustAnchorsPem: readonly string[]): string {
  const configured = certificatePem.match(PEM_CERTIFICATE) ?? [];
  const first = configured[0];
  if (configured.length !== 1 || first === undefined) return certificatePem;
  const anchors = trustAnchorsPem.flatMap((pem) => pem.match(PEM_CERTIFICATE) ?? []).map((pem) => ({ pem, certificate: new X509Certificate(pem) }));
  const chain = [first];
  let last = new X509Certificate(first);
  // Up the issuers while one is among the anchors and the last one is not its own issuer (a root ends the chain).
  while (chain.length <= anchors.length && !(last.checkIssued(last) && last.verify(last.publicKey))) {
    const current = last;
    const issuer = anchors.find((a) => current.checkIssued(a.certificate) && current.verify(a.certificate.publicKey));
    if (!issuer) break;
    chain.push(issuer.pem);
    last = issuer.certificate;
  }
  return `${chain.join('\n')}\n`;
}
