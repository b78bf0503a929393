/**
 * The image downloader against a local HTTPS server with mutual TLS (certificates from the test PKI): the device
 * presents its identity certificate, checks the server's, resumes with Range, and never hands out a payload whose
 * size or SHA-256 is not the announced one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { deviceIdUri } from '../../contract/identity.js';
import { makeDeviceIdentity, makeDeviceIdentityFromRogueCa, makeTestPki, type TestDeviceIdentity, type TestPki } from '../../test/fixtures/pki.js';
import { downloadImage, type DownloadRequest, type DownloadTls } from './downloader.js';
import { startPayloadServer, type PayloadServer } from './test-support/payload-server.js';

const PATH = '/images/3f2504e0-4f89-41d3-9a0c-0305e82c3301/payload';
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
/** No waiting between attempts. */
const noWait = { delayMs: () => 0 };

describe('downloadImage (HTTPS, mutual TLS)', () => {
  let pki: TestPki;
  let device: TestDeviceIdentity;
  let server: PayloadServer;
  let payload: Buffer;
  let tls: DownloadTls;

  beforeAll(async () => {
    pki = await makeTestPki();
    device = await makeDeviceIdentity(pki.manufacturingCa);
    tls = { key: device.keyPem, cert: device.certificatePem, ca: pki.root.certificatePem };
  });
  beforeEach(async () => {
    server = await startPayloadServer({ keyPem: pki.server.keyPem, certificatePem: pki.server.chainPem, clientCaPem: pki.manufacturingCa.certificatePem });
    payload = randomBytes(100_000);
    server.payloads.set(PATH, payload);
  });
  afterEach(async () => {
    await server.close();
  });

  const request = (over: Partial<DownloadRequest> = {}): DownloadRequest => ({
    url: `${server.baseUrl}${PATH}`,
    tls,
    size: payload.length,
    sha256: sha256(payload),
    retry: noWait,
    ...over,
  });

  it('downloads the whole payload in one request, presenting the device certificate, and closes the connection', async () => {
    const resumed: number[] = [];
    const result = await downloadImage(request({ onResume: (offset) => resumed.push(offset) }));

    expect(result.ok).toBe(true);
    expect(result.ok && result.payload.equals(payload)).toBe(true);
    expect(server.requests).toEqual([{ path: PATH, range: undefined, clientSan: `URI:${deviceIdUri(device.deviceId)}` }]);
    expect(resumed).toEqual([]);
    await waitUntil(() => server.openSockets() === 0, 'the connection to close');
  });

  it('When the first attempt is cut (test hook), then it resumes with Range: bytes=N- and assembles the payload', async () => {
    const resumed: number[] = [];
    const result = await downloadImage(request({ interruptFirstAttemptAfterBytes: 10_000, onResume: (offset) => resumed.push(offset) }));

    expect(result.ok && result.payload.equals(payload)).toBe(true);
    expect(server.requests.map((r) => r.range)).toEqual([undefined, 'bytes=10000-']);
    expect(resumed).toEqual([10_000]);
  });

  it('When the server drops the connection mid-body, then it asks for exactly the bytes it is missing', async () => {
    server.misbehave = (_path, n) => (n === 0 ? { cutAfter: 30_000 } : 'serve');
    const resumed: number[] = [];
    const result = await downloadImage(request({ onResume: (offset) => resumed.push(offset) }));

    expect(result.ok && result.payload.equals(payload)).toBe(true);
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1]?.range).toBe('bytes=30000-');
    expect(resumed).toEqual([30_000]);
  });

  it('When the server answers a Range request with 200, then it starts over from byte 0', async () => {
    server.misbehave = (_path, n) => (n === 0 ? { cutAfter: 5_000 } : 'ignore-range');
    const result = await downloadImage(request());

    expect(result.ok && result.payload.equals(payload)).toBe(true);
    // The 200 to the Range request is discarded as soon as it is seen, and the next attempt asks for everything.
    expect(server.requests.map((r) => r.range)).toEqual([undefined, 'bytes=5000-', undefined]);
  });

  it('When a byte of the payload differs, then it reports a sha256 mismatch and hands out no payload', async () => {
    const tampered = Buffer.from(payload);
    tampered[10] = (tampered[10] ?? 0) ^ 0xff;
    server.payloads.set(PATH, tampered);
    const result = await downloadImage(request());

    expect(result).toEqual({ ok: false, rejected: true, reason: 'sha256 mismatch', detail: expect.stringContaining(sha256(tampered)) });
    expect(server.requests).toHaveLength(1);
  });

  it('When a resumed download does not add up to the announced SHA-256, then it is rejected too', async () => {
    const tampered = Buffer.from(payload);
    tampered[90_000] = (tampered[90_000] ?? 0) ^ 0xff;
    server.payloads.set(PATH, tampered);
    const result = await downloadImage(request({ interruptFirstAttemptAfterBytes: 50_000 }));

    expect(result).toMatchObject({ ok: false, rejected: true, reason: 'sha256 mismatch' });
    expect(server.requests.map((r) => r.range)).toEqual([undefined, 'bytes=50000-']);
  });

  it('When the server has more bytes than announced, then it stops and rejects the payload', async () => {
    server.payloads.set(PATH, Buffer.concat([payload, Buffer.from('extra')]));
    const result = await downloadImage(request());

    expect(result).toMatchObject({ ok: false, rejected: true, reason: 'sha256 mismatch' });
  });

  it.each([404, 403])('When the server answers %i, then it fails at once without retrying', async (status) => {
    server.misbehave = () => ({ status });
    const result = await downloadImage(request());

    expect(result).toEqual({ ok: false, rejected: false, reason: `download: HTTP ${status}` });
    expect(server.requests).toHaveLength(1);
  });

  it('When the server keeps failing, then it gives up after maxAttempts, waiting as the backoff policy says between attempts', async () => {
    server.misbehave = () => ({ status: 503 });
    const waits: number[] = [];
    const result = await downloadImage(request({ maxAttempts: 3, retry: { delayMs: (attempt) => (waits.push(attempt), 5) } }));

    expect(result).toEqual({ ok: false, rejected: false, reason: 'download: HTTP 503 (3 attempts)' });
    expect(server.requests).toHaveLength(3);
    expect(waits).toEqual([0, 1]);
  });

  it('When the server certificate is not from its trust anchors, then it downloads nothing', async () => {
    const result = await downloadImage(request({ tls: { ...tls, ca: pki.manufacturingCa.certificatePem }, maxAttempts: 2 }));

    expect(result).toMatchObject({ ok: false, rejected: false });
    expect(server.requests).toEqual([]);
  });

  it('When its certificate is not one the server accepts, then it downloads nothing', async () => {
    const rogue = await makeDeviceIdentityFromRogueCa();
    const result = await downloadImage(request({ tls: { key: rogue.keyPem, cert: rogue.certificatePem, ca: pki.root.certificatePem }, maxAttempts: 2 }));

    expect(result).toMatchObject({ ok: false, rejected: false });
    expect(server.requests).toEqual([]);
  });

  it('When aborted mid-download, then it rejects with the reason and closes the connection', async () => {
    server.misbehave = () => ({ cutAfter: 1_000 });
    const abort = new AbortController();
    const reason = new Error('stopped');
    // Aborted while waiting to retry after the first attempt was cut.
    const running = downloadImage(request({ signal: abort.signal, retry: { delayMs: () => 60_000 } }));
    await waitUntil(() => server.requests.length === 1, 'the first request');
    setTimeout(() => abort.abort(reason), 50);

    await expect(running).rejects.toBe(reason);
    await waitUntil(() => server.openSockets() === 0, 'the connection to close');
  });

  it('When aborted while a response is streaming, then the socket is destroyed at once', async () => {
    // A response that never finishes: headers and a first part only (the socket stays open for a while).
    server.misbehave = () => ({ cutAfter: 1_000 });
    const abort = new AbortController();
    const running = downloadImage(request({ signal: abort.signal }));
    await waitUntil(() => server.requests.length === 1, 'the first request');
    abort.abort(new Error('stopped'));

    await expect(running).rejects.toThrow('stopped');
    await waitUntil(() => server.openSockets() === 0, 'the connection to close');
  });
});

async function waitUntil(predicate: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
