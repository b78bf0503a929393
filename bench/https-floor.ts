/**
 * The rollout scenario's floor: a plain node:https server with the same mutual TLS as Spheregate's download
 * server (its server certificate, client certificates checked against the manufacturing CA), serving one payload
 * from memory to any device that presents a valid identity certificate: no database, no admission, no target
 * check. Driven in-process (the smoke test) or from bench/floor-child.ts in its own process.
 */
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { PkiFiles, ProcessUsage } from './targets.js';

export const FLOOR_PAYLOAD_PATH = '/payload';

export interface HttpsFloor {
  /** https://localhost:<port>/payload */
  readonly url: string;
  /** Serves the bytes of this file from now on (read once, kept in memory). */
  serve(file: string): Promise<void>;
  usage(): Promise<ProcessUsage>;
  close(): Promise<void>;
}

export async function startHttpsFloor(pki: PkiFiles, usage: () => Promise<ProcessUsage>): Promise<HttpsFloor> {
  let payload: Buffer | null = null;
  const server = createServer(
    {
      key: await readFile(pki.serverKey, 'utf8'),
      cert: await readFile(pki.serverCertificate, 'utf8'),
      ca: await readFile(pki.manufacturingCa, 'utf8'),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
    },
    (req, res) => {
      const authorized = (req.socket as TLSSocket).authorized;
      if (!authorized || req.url !== FLOOR_PAYLOAD_PATH || req.method !== 'GET' || payload === null) {
        res.writeHead(authorized ? 404 : 403).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(payload.length), 'cache-control': 'no-store' });
      res.end(payload);
    },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return {
    url: `https://localhost:${address.port}${FLOOR_PAYLOAD_PATH}`,
    serve: async (file) => {
      payload = await readFile(file);
    },
    usage,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
