/**
 * Image downloads for devices: HTTPS with mutual TLS on its own port. The device proves who it is with the same
 * certificate it uses for MQTT (identity or tenant-issued), is admitted by the same domain check, and may fetch
 * only an image of its current target. Single byte ranges (RFC 9110) let an interrupted download resume.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { ImageStorage } from '../domain/images/image-storage.port.js';
import type { DeploymentsService, PresenceService } from '../domain/services.js';
import type { Logger } from '../domain/shared/logger.js';
import { errorSummary } from './errors.js';
import { peerIdentity } from './identity.js';
import { servedChain } from './tls-listener.js';
import type { BrokerTlsOptions } from './options.js';

const PAYLOAD_PATH = /^\/images\/([0-9a-f-]{36})\/payload$/;

export interface DownloadServerOptions {
  readonly tls: BrokerTlsOptions;
  readonly port: number;
  readonly host?: string;
  readonly presence: Pick<PresenceService, 'admit'>;
  readonly deployments: Pick<DeploymentsService, 'downloadableImage'>;
  readonly storage: ImageStorage;
  readonly log: Logger;
  /** Payloads held in memory (a fleet downloads the same few at once): at most this many bytes. @default 64 MiB */
  readonly payloadCacheBytes?: number;
}

export interface DownloadServer {
  readonly port: number;
  close(): Promise<void>;
}

/** The requested byte range of a `size`-byte payload: null (whole), a range, or 'unsatisfiable'. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null | 'unsatisfiable' {
  if (header === undefined) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'unsatisfiable';
  if (m[1] === '') {
    // A suffix: the last N bytes.
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/**
 * Payloads in memory, least recently used dropped first. Safe to hold: a READY image's payload never changes (its
 * SHA-256 was checked against the signed metadata when it was stored), and only payloads of at most an eighth of
 * the budget are held, read whole once however many devices ask at the same time.
 */
export class PayloadCache {
  /** In use order: the least recently used first. */
  private readonly held = new Map<string, { readonly payload: Promise<Buffer>; readonly size: number }>();
  private bytes = 0;

  constructor(
    private readonly read: (imageId: string) => AsyncIterable<Uint8Array>,
    private readonly maxBytes: number,
  ) {}

  /** The payload, or null when it is too large to hold (stream it instead). */
  get(imageId: string, size: number): Promise<Buffer> | null {
    if (size > this.maxBytes / 8) return null;
    let entry = this.held.get(imageId);
    if (entry) {
      this.held.delete(imageId);
    } else {
      const payload = this.load(imageId, size);
      entry = { payload, size };
      this.bytes += size;
      payload.catch(() => {
        if (this.held.get(imageId)?.payload === payload) this.forget(imageId);
      });
    }
    this.held.set(imageId, entry);
    for (const [id] of this.held) {
      if (this.bytes <= this.maxBytes || id === imageId) break;
      this.forget(id);
    }
    return entry.payload;
  }

  /** Payloads held now. */
  get size(): number {
    return this.held.size;
  }

  private forget(imageId: string): void {
    const entry = this.held.get(imageId);
    if (!entry) return;
    this.held.delete(imageId);
    this.bytes -= entry.size;
  }

  private async load(imageId: string, size: number): Promise<Buffer> {
    const chunks: Uint8Array[] = [];
    for await (const chunk of this.read(imageId)) chunks.push(chunk);
    const payload = Buffer.concat(chunks);
    if (payload.length !== size) throw new Error(`image ${imageId}: the stored payload has ${payload.length} bytes, not ${size}`);
    return payload;
  }
}

export async function startDownloadServer(opts: DownloadServerOptions): Promise<DownloadServer> {
  const log = opts.log.child({ component: 'downloads' });
  const payloads = new PayloadCache((imageId) => opts.storage.read(imageId), opts.payloadCacheBytes ?? 64 * 1024 * 1024);
  const server: Server = createServer(
    {
      key: opts.tls.keyPem,
      // The chain built once, as the MQTT listener does (not rebuilt and re-verified by OpenSSL per connection).
      cert: servedChain(opts.tls.certificatePem, opts.tls.trustAnchorsPem),
      ca: [...opts.tls.trustAnchorsPem],
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
    },
    (req, res) => {
      handle(req, res).catch((e: unknown) => {
        log.error({ err: errorSummary(e) }, 'download failed');
        if (!res.headersSent) send(res, 500, 'internal error');
        else res.destroy();
      });
    },
  );

  const send = (res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const m = PAYLOAD_PATH.exec((req.url ?? '/').split('?')[0] ?? '/');
    if (!m?.[1]) return send(res, 404, 'not found');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed', { allow: 'GET, HEAD' });
    const imageId = m[1];
    const identity = peerIdentity(req.socket as TLSSocket);
    if (!identity.ok) {
      log.warn({ reason: identity.reason, remoteAddress: req.socket.remoteAddress ?? null }, 'download refused: certificate');
      return send(res, 403, 'forbidden');
    }
    const { deviceId, sha256Thumbprint } = identity.identity;
    const admission = await opts.presence.admit(deviceId, sha256Thumbprint);
    if (!admission.admitted) {
      log.warn({ deviceId, reason: admission.reason }, 'download refused: device not admitted');
      return send(res, 403, 'forbidden');
    }
    const image = await opts.deployments.downloadableImage(deviceId, imageId);
    if (!image) {
      log.warn({ deviceId, imageId }, 'download refused: the image is not in the device target');
      return send(res, 404, 'not found');
    }
    const range = parseRange(typeof req.headers.range === 'string' ? req.headers.range : undefined, image.size);
    const common = { 'accept-ranges': 'bytes', etag: `"${image.sha256}"`, 'content-type': 'application/octet-stream', 'cache-control': 'no-store' };
    if (range === 'unsatisfiable') return send(res, 416, 'range not satisfiable', { 'content-range': `bytes */${image.size}` });
    if (range === null) {
      res.writeHead(200, { ...common, 'content-length': String(image.size) });
    } else {
      res.writeHead(206, { ...common, 'content-length': String(range.end - range.start + 1), 'content-range': `bytes ${range.start}-${range.end}/${image.size}` });
      log.info({ deviceId, imageId, start: range.start }, 'download resumed');
    }
    if (req.method === 'HEAD' || image.size === 0) return void res.end();
    const held = payloads.get(image.id, image.size);
    if (held) {
      const payload = await held;
      return void res.end(range ? payload.subarray(range.start, range.end + 1) : payload);
    }
    await pipeline(Readable.from(opts.storage.read(image.id, range ?? undefined)), res);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  log.info({ port: address.port }, 'image download server listening (mutual TLS)');
  return {
    port: address.port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
