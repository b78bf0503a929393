/**
 * Downloads one image payload over HTTPS with mutual TLS (the device's own certificate), as the service's download
 * server serves it: an interrupted download resumes with `Range: bytes=<received>-` (answered 206, whose
 * Content-Range must start where the device stopped; a 200 instead starts over). Attempts are bounded and spaced by
 * a backoff policy; 403 and 404 end the download at once. The payload is checked against the size and SHA-256 the
 * target announced before anyone may look at it.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { setTimeout as delay } from 'node:timers/promises';
import type { BackoffPolicy } from '../backoff.js';
import { toBackoffPolicy } from '../backoff.js';

/** The client certificate and key the device presents, and the CAs it trusts for the server. */
export interface DownloadTls {
  readonly key: string;
  readonly cert: string;
  readonly ca: string;
}

export interface DownloadRequest {
  /** https:// URL of the payload. */
  readonly url: string;
  readonly tls: DownloadTls;
  /** The size and SHA-256 (hex) the target announced. */
  readonly size: number;
  readonly sha256: string;
  /** Aborting destroys the request in flight; download() then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** @default 5 */
  readonly maxAttempts?: number;
  /** Waits between attempts. @default full jitter { baseMs: 1000, capMs: 30000 } */
  readonly retry?: BackoffPolicy;
  /** Test hook: the first attempt is cut after this many bytes (then the download resumes with Range). */
  readonly interruptFirstAttemptAfterBytes?: number;
  /** An attempt that receives nothing for this long is cut (and resumed). @default 30000 */
  readonly idleTimeoutMs?: number;
  /** Told before each attempt that asks for the rest from `offset` (a Range request). */
  readonly onResume?: (offset: number) => void;
}

export type DownloadResult =
  | { readonly ok: true; readonly payload: Buffer }
  /** The server sent something other than the announced payload: never to be installed. */
  | { readonly ok: false; readonly rejected: true; readonly reason: 'sha256 mismatch'; readonly detail: string }
  /** Could not download (refused, or attempts exhausted); `reason` is short, e.g. "download: HTTP 404". */
  | { readonly ok: false; readonly rejected: false; readonly reason: string };

export const DEFAULT_DOWNLOAD_ATTEMPTS = 5;
export const DEFAULT_DOWNLOAD_RETRY = { baseMs: 1_000, capMs: 30_000 } as const;
const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

type AttemptOutcome =
  | { readonly kind: 'complete' }
  /** Keep what arrived and ask for the rest. */
  | { readonly kind: 'interrupted'; readonly reason: string }
  /** What arrived cannot be continued: start over from byte 0. */
  | { readonly kind: 'restart'; readonly reason: string }
  /** Not worth another attempt. */
  | { readonly kind: 'refused'; readonly reason: string }
  | { readonly kind: 'mismatch'; readonly detail: string };

/** What has arrived so far (kept across attempts). */
class Received {
  private chunks: Buffer[] = [];
  bytes = 0;
  add(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
  }
  reset(): void {
    this.chunks = [];
    this.bytes = 0;
  }
  payload(): Buffer {
    return Buffer.concat(this.chunks, this.bytes);
  }
}

export async function downloadImage(req: DownloadRequest): Promise<DownloadResult> {
  if (!Number.isSafeInteger(req.size) || req.size < 0) throw new RangeError(`size must be a whole number >= 0, got ${req.size}`);
  const maxAttempts = req.maxAttempts ?? DEFAULT_DOWNLOAD_ATTEMPTS;
  const retry = req.retry ?? toBackoffPolicy(DEFAULT_DOWNLOAD_RETRY);
  const received = new Received();
  let lastReason = 'no attempt';
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    req.signal?.throwIfAborted();
    if (attempt > 0) await wait(retry.delayMs(attempt - 1), req.signal);
    if (received.bytes > 0) req.onResume?.(received.bytes);
    const cutAfter = attempt === 0 ? req.interruptFirstAttemptAfterBytes : undefined;
    const outcome = await fetchOnce(req, received, cutAfter);
    switch (outcome.kind) {
      case 'complete': {
        const payload = received.payload();
        const sha256 = createHash('sha256').update(payload).digest('hex');
        if (sha256 !== req.sha256.toLowerCase()) {
          return { ok: false, rejected: true, reason: 'sha256 mismatch', detail: `expected ${req.sha256.toLowerCase()}, got ${sha256}` };
        }
        return { ok: true, payload };
      }
      case 'mismatch':
        return { ok: false, rejected: true, reason: 'sha256 mismatch', detail: outcome.detail };
      case 'refused':
        return { ok: false, rejected: false, reason: `download: ${outcome.reason}` };
      case 'restart':
        received.reset();
        lastReason = outcome.reason;
        break;
      case 'interrupted':
        lastReason = outcome.reason;
        break;
    }
  }
  return { ok: false, rejected: false, reason: `download: ${lastReason} (${maxAttempts} attempts)` };
}

/** One GET: from byte `received.bytes` on (a Range request when that is not 0). */
function fetchOnce(req: DownloadRequest, received: Received, cutAfter: number | undefined): Promise<AttemptOutcome> {
  const offset = received.bytes;
  const signal = req.signal;
  return new Promise<AttemptOutcome>((resolve, reject) => {
    let settled = false;
    const done = (outcome: AttemptOutcome | Error): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      if (!client.destroyed) client.destroy();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const onAbort = (): void => done(signal?.reason instanceof Error ? signal.reason : new Error('download aborted'));

    const client = request(req.url, {
      method: 'GET',
      key: req.tls.key,
      cert: req.tls.cert,
      ca: req.tls.ca,
      rejectUnauthorized: true,
      // A fresh connection per attempt, closed after it: nothing pooled keeps the process alive.
      agent: false,
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
    });
    client.setTimeout(req.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS, () => done({ kind: 'interrupted', reason: 'timed out' }));
    client.on('error', (e) => done({ kind: 'interrupted', reason: errorReason(e) }));
    client.on('response', (res) => {
      const framing = responseFraming(res, offset, req.size);
      if (framing.kind !== 'body') {
        res.resume();
        done(framing);
        return;
      }
      res.on('data', (chunk: Buffer) => {
        if (settled) return;
        if (received.bytes + chunk.length > req.size) {
          done({ kind: 'mismatch', detail: `more than the announced ${req.size} bytes` });
          return;
        }
        if (cutAfter !== undefined && received.bytes + chunk.length >= cutAfter && cutAfter < req.size) {
          received.add(chunk.subarray(0, Math.max(0, cutAfter - received.bytes)));
          done({ kind: 'interrupted', reason: 'interrupted (test hook)' });
          return;
        }
        received.add(chunk);
      });
      res.on('end', () => {
        if (received.bytes === req.size) done({ kind: 'complete' });
        else done({ kind: 'interrupted', reason: `connection closed after ${received.bytes - offset} bytes` });
      });
      res.on('error', (e) => done({ kind: 'interrupted', reason: errorReason(e) }));
      res.on('aborted', () => done({ kind: 'interrupted', reason: 'connection closed' }));
    });
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    client.end();
  });
}

/** Whether a response can continue what arrived; a 200 (whole payload) resets what arrived. */
function responseFraming(
  res: IncomingMessage,
  offset: number,
  size: number,
): { kind: 'body' } | Exclude<AttemptOutcome, { kind: 'complete' }> {
  const status = res.statusCode ?? 0;
  if (status === 403 || status === 404) return { kind: 'refused', reason: `HTTP ${status}` };
  if (status === 416) return { kind: 'restart', reason: 'HTTP 416' };
  if (status === 200) {
    if (offset > 0) return { kind: 'restart', reason: 'the server ignored the range' };
    const length = res.headers['content-length'];
    if (length !== undefined && Number(length) !== size) return { kind: 'mismatch', detail: `the server sends ${length} bytes, not ${size}` };
    return { kind: 'body' };
  }
  if (status === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers['content-range'] ?? '');
    if (!m) return { kind: 'restart', reason: '206 without a readable Content-Range' };
    if (Number(m[1]) !== offset) return { kind: 'restart', reason: `the server resumed at ${m[1]}, not ${offset}` };
    if (m[3] !== '*' && Number(m[3]) !== size) return { kind: 'mismatch', detail: `the server has ${m[3]} bytes, not ${size}` };
    return { kind: 'body' };
  }
  return { kind: 'interrupted', reason: `HTTP ${status}` };
}

/** An unref'd wait that an abort ends at once, rejecting with the signal's reason. */
async function wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await delay(ms, undefined, { signal, ref: false });
  } catch (e) {
    if (signal?.aborted) throw signal.reason;
    throw e;
  }
}

function errorReason(e: Error): string {
  const code = Reflect.get(e, 'code');
  return typeof code === 'string' ? code : e.message;
}
