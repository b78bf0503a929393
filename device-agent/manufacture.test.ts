/**
 * manufacture() against a tiny HTTP stand-in for the gateway's `manufactureDevices` mutation, signing with the
 * real Pki implementation; the real gateway lives in server/.
 */
import { once } from 'node:events';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../domain/shared/logger.js';
import { KeyStore } from '../infra/pki/key-store.js';
import { DevPki } from '../infra/pki/pki-service.js';
import { checkIdentityCertificate } from '../infra/pki/identity-certificate.js';
import { makeTestPki, type TestPki } from '../test/fixtures/pki.js';
import { readIdentityFile } from './identity.js';
import { ManufactureError, graphqlEndpoint, manufacture, MANUFACTURE_MUTATION } from './manufacture.js';

const ADMIN_KEY = 'sg_admin_test_key';

interface FakeGateway {
  readonly url: string;
  readonly batches: number[];
  readonly authorizations: string[];
  /** Lets a test corrupt the answer for one CSR. */
  tamper: ((index: number, result: Record<string, unknown>) => Record<string, unknown>) | null;
  close(): Promise<void>;
}

async function startFakeGateway(pki: DevPki): Promise<FakeGateway> {
  const gateway: Omit<FakeGateway, 'url' | 'close'> = { batches: [], authorizations: [], tamper: null };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const send = (body: unknown) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(body));
        };
        gateway.authorizations.push(req.headers.authorization ?? '');
        if (req.url !== '/graphql' || req.method !== 'POST') {
          res.writeHead(404).end('not here');
          return;
        }
        if (req.headers.authorization !== `Bearer ${ADMIN_KEY}`) {
          send({ errors: [{ message: 'Authentication required', extensions: { code: 'UNAUTHENTICATED' } }] });
          return;
        }
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { query: string; variables: { csrs: string[] } };
        if (body.query !== MANUFACTURE_MUTATION) throw new Error('unexpected query');
        gateway.batches.push(body.variables.csrs.length);
        const results = await Promise.all(
          body.variables.csrs.map(async (csr, index) => {
            let result: Record<string, unknown>;
            try {
              const identity = await pki.issueIdentityCertificate(csr);
              result = { index, ok: true, deviceId: identity.deviceId, certificate: identity.certificatePem, errorCode: null, errorMessage: null };
            } catch (e) {
              result = { index, ok: false, deviceId: null, certificate: null, errorCode: 'BAD_USER_INPUT', errorMessage: String(e) };
            }
            return gateway.tamper ? gateway.tamper(index, result) : result;
          }),
        );
        send({ data: { manufactureDevices: results } });
      })();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return Object.assign(gateway, {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

describe('manufacture', () => {
  let testPki: TestPki;
  let dir: string;
  let gateway: FakeGateway;

  beforeAll(async () => {
    testPki = await makeTestPki();
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spheregate-manufacture-'));
    const pki = new DevPki({
      store: await KeyStore.open(join(dir, 'pki')),
      root: testPki.root,
      manufacturingCa: testPki.manufacturingCa,
      clock: { now: () => new Date() },
      log: silentLogger,
    });
    gateway = await startFakeGateway(pki);
  });
  afterEach(async () => {
    await gateway.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('makes each device its own key, sends CSRs in batches with the admin key, and writes one 0600 file per device', async () => {
    const outDir = join(dir, 'devices');
    const progress: number[] = [];
    const identities = await manufacture({
      serviceUrl: gateway.url,
      adminKey: ADMIN_KEY,
      count: 5,
      batchSize: 2,
      outDir,
      trustAnchorsPem: testPki.root.certificatePem,
      onProgress: (made) => progress.push(made),
    });

    expect(gateway.batches).toEqual([2, 2, 1]);
    expect(progress).toEqual([2, 4, 5]);
    expect(new Set(identities.map((i) => i.deviceId)).size).toBe(5);
    expect((await readdir(outDir)).sort()).toEqual(identities.map((i) => `${i.deviceId}.json`).sort());
    expect((await stat(outDir)).mode & 0o777).toBe(0o700);
    for (const identity of identities) {
      const path = join(outDir, `${identity.deviceId}.json`);
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect(await readIdentityFile(path)).toEqual(identity);
      expect(identity.trustAnchorsPem).toBe(testPki.root.certificatePem);
      const check = await checkIdentityCertificate(identity.certificatePem, {
        manufacturingCaPem: testPki.manufacturingCa.certificatePem,
        now: new Date(),
      });
      expect(check).toEqual({ ok: true, deviceId: identity.deviceId });
    }
  });

  it('When no outDir is given, then it returns the identities and writes nothing', async () => {
    const identities = await manufacture({ serviceUrl: `${gateway.url}/`, adminKey: ADMIN_KEY, count: 2, trustAnchorsPem: testPki.root.certificatePem });
    expect(identities).toHaveLength(2);
    expect(gateway.batches).toEqual([2]);
    expect(await readdir(dir)).toEqual(['pki']);
  });

  it('When the admin key is wrong, then it fails with the service error code', async () => {
    await expect(
      manufacture({ serviceUrl: gateway.url, adminKey: 'wrong', count: 1, trustAnchorsPem: testPki.root.certificatePem }),
    ).rejects.toThrow(/UNAUTHENTICATED/);
    expect(gateway.authorizations).toEqual(['Bearer wrong']);
  });

  it('When the service names a device differently from its key, then that device is refused and the others are kept', async () => {
    gateway.tamper = (index, result) => (index === 1 ? { ...result, deviceId: 'F'.repeat(128) } : result);
    const outDir = join(dir, 'devices');
    const error = await manufacture({
      serviceUrl: gateway.url,
      adminKey: ADMIN_KEY,
      count: 3,
      outDir,
      trustAnchorsPem: testPki.root.certificatePem,
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ManufactureError);
    if (!(error instanceof ManufactureError)) return;
    expect(error.failures).toEqual([{ index: 1, errorCode: 'DEVICE_ID_MISMATCH', errorMessage: expect.any(String) }]);
    expect(error.identities).toHaveLength(2);
    expect(await readdir(outDir)).toHaveLength(2);
  });

  it('When the service refuses a CSR, then the failure carries its code and message', async () => {
    gateway.tamper = (index, result) =>
      index === 0 ? { index, ok: false, deviceId: null, certificate: null, errorCode: 'CONFLICT', errorMessage: 'already manufactured' } : result;
    await expect(
      manufacture({ serviceUrl: gateway.url, adminKey: ADMIN_KEY, count: 1, trustAnchorsPem: testPki.root.certificatePem }),
    ).rejects.toThrow(/CONFLICT: already manufactured/);
  });

  it('refuses nonsense options before calling the service', async () => {
    const base = { serviceUrl: gateway.url, adminKey: ADMIN_KEY, trustAnchorsPem: testPki.root.certificatePem };
    await expect(manufacture({ ...base, count: 0 })).rejects.toThrow(RangeError);
    await expect(manufacture({ ...base, count: 1, batchSize: 1001 })).rejects.toThrow(RangeError);
    await expect(manufacture({ ...base, count: 1, trustAnchorsPem: 'nope' })).rejects.toThrow(/trustAnchorsPem/);
    expect(gateway.batches).toEqual([]);
  });

  it('appends /graphql to the service URL unless it is there', () => {
    expect(graphqlEndpoint('http://localhost:4000')).toBe('http://localhost:4000/graphql');
    expect(graphqlEndpoint('http://localhost:4000/')).toBe('http://localhost:4000/graphql');
    expect(graphqlEndpoint('https://sphere.example/api/graphql')).toBe('https://sphere.example/api/graphql');
  });
});
