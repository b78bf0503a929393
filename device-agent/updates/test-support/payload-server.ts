/**
 * For tests: a tiny HTTPS payload server with mutual TLS, answering like the service's download server
 * (broker/download-server.ts): 200 for the whole payload, 206 with Content-Range for `Range: bytes=N-`, 404 for
 * unknown paths. It records every request, and can misbehave on demand.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';

export interface PayloadServerTls {
  readonly keyPem: string;
  readonly certificatePem: string;
  /** CAs that sign the client certificates the server accepts. */
  readonly clientCaPem: string;
}

export interface SeenRequest {
  readonly path: string;
  readonly range: string | undefined;
  /** The subject alternative names of the client certificate. */
  readonly clientSan: string;
}

/** What to do with one request instead of serving it normally; 'serve' serves it. */
export type Misbehaviour =
  | 'serve'
  | { readonly status: number }
  /** Sends the headers of a full answer and this many bytes, then drops the connection. */
  | { readonly cutAfter: number }
  /** Answers 200 with the whole payload even to a Range request. */
  | 'ignore-range';

export interface PayloadServer {
  readonly baseUrl: string;
  readonly requests: SeenRequest[];
  /** Payloads by path, e.g. '/images/<id>/payload'. */
  readonly payloads: Map<string, Buffer>;
  /** Decides per request (n: 0-based count of requests for the path so far). @default always 'serve' */
  misbehave: (path: string, n: number) => Misbehaviour;
  /** Sockets currently open (to check the device closes what it opened). */
  openSockets(): number;
  close(): Promise<void>;
}

export async function startPayloadServer(tls: PayloadServerTls): Promise<PayloadServer> {
  const requests: SeenRequest[] = [];
  const payloads = new Map<string, Buffer>();
  const sockets = new Set<TLSSocket>();
  const state: PayloadServer = {
    baseUrl: '',
    requests,
    payloads,
    misbehave: () => 'serve',
    openSockets: () => sockets.size,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const range = typeof req.headers.range === 'string' ? req.headers.range : undefined;
    const n = requests.filter((r) => r.path === path).length;
    requests.push({ path, range, clientSan: (req.socket as TLSSocket).getPeerCertificate().subjectaltname ?? '' });
    const payload = payloads.get(path);
    if (!payload) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const behaviour = state.misbehave(path, n);
    if (behaviour !== 'serve' && behaviour !== 'ignore-range' && 'status' in behaviour) {
      res.writeHead(behaviour.status, { 'content-type': 'text/plain' }).end('no');
      return;
    }
    const m = behaviour === 'ignore-range' ? null : /^bytes=(\d+)-$/.exec(range ?? '');
    const start = m ? Number(m[1]) : 0;
    if (start >= payload.length && payload.length > 0) {
      res.writeHead(416, { 'content-range': `bytes */${payload.length}` }).end();
      return;
    }
    const body = payload.subarray(start);
    const headers = { 'content-type': 'application/octet-stream', 'content-length': String(body.length), 'accept-ranges': 'bytes' };
    if (m) res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${payload.length - 1}/${payload.length}` });
    else res.writeHead(200, headers);
    if (behaviour !== 'serve' && behaviour !== 'ignore-range' && 'cutAfter' in behaviour) {
      res.write(body.subarray(0, behaviour.cutAfter), () => setTimeout(() => req.socket.destroy(), 20));
      return;
    }
    res.end(body);
  };

  const server: Server = createServer(
    { key: tls.keyPem, cert: tls.certificatePem, ca: tls.clientCaPem, requestCert: true, rejectUnauthorized: true },
    handle,
  );
  server.on('secureConnection', (socket: TLSSocket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('tlsClientError', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, { baseUrl: `https://localhost:${port}` });
}
