/**
 * Scenario c: attestation and certificate issuance. N claimed devices, already connected, attest at once (50 in
 * flight) over MQTT: certificates/s end to end. Baseline, in the same run: the PKI alone signing the same number
 * of device certificates from ready CSRs (the floor the service cannot beat: everything else — nonce, signature and
 * CSR checks, measurements, the database — is the price of attestation).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmulatedDevice, MemoryCertificateStore, manufacture } from '../device-agent/index.js';
import { silentLogger } from '../domain/shared/logger.js';
import { loadOrCreatePki } from '../infra/pki/dev-pki.js';
import { createCsr, generateKeyPair } from '../infra/pki/x509.js';
import { spread, type Spread } from './stats.js';
import { startSpheregateTarget } from './targets.js';

export interface AttestationReport {
  readonly scenario: 'attestation';
  readonly devices: number;
  readonly reps: number;
  readonly certificatesPerSecond: Spread;
  readonly bareSigningPerSecond: Spread;
  /** Spheregate's median over the bare PKI's. */
  readonly ratio: number;
  readonly failed: number;
}

export async function runAttestation(opts: { devices: number; reps: number; concurrency?: number; onProgress?: (line: string) => void }): Promise<AttestationReport> {
  const say = opts.onProgress ?? (() => undefined);
  const workDir = await mkdtemp(join(tmpdir(), 'sg-bench-att-'));
  const rates: number[] = [];
  const floors: number[] = [];
  let failed = 0;
  try {
    const target = await startSpheregateTarget(join(workDir, 'spheregate'));
    try {
      const gql = async <T>(key: string, query: string, variables: object = {}): Promise<T> => {
        const res = await fetch(target.graphqlUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
          body: JSON.stringify({ query, variables }),
        });
        const body = (await res.json()) as { data?: T; errors?: unknown };
        if (!body.data) throw new Error(JSON.stringify(body.errors));
        return body.data;
      };
      const { createTenant } = await gql<{ createTenant: { adminKey: { secret: string } } }>(
        target.adminKey,
        'mutation { createTenant(input: { name: "Bench" }) { adminKey { secret } } }',
      );
      const identities = await manufacture({ serviceUrl: target.graphqlUrl, adminKey: target.adminKey, count: opts.devices, trustAnchorsPem: target.rootCaPem });
      await gql(createTenant.adminKey.secret, 'mutation($ids: [ID!]!) { claimDevices(deviceIds: $ids) { ok } }', { ids: identities.map((i) => i.deviceId) });
      const devices = identities.map(
        (identity) =>
          new EmulatedDevice({ identity, brokerUrl: `mqtts://localhost:${target.mqttPort}`, attestation: { store: new MemoryCertificateStore(), enabled: false } }),
      );
      await Promise.all(devices.map((d) => new Promise<void>((resolve) => (d.once('online', () => resolve()), d.start()))));
      try {
        for (let rep = 0; rep < opts.reps; rep++) {
          const begin = performance.now();
          let next = 0;
          const worker = async (): Promise<void> => {
            for (let d = devices[next++]; d; d = devices[next++]) if (!(await d.renewCertificate()).ok) failed++;
          };
          await Promise.all(Array.from({ length: opts.concurrency ?? 50 }, worker));
          rates.push(devices.length / ((performance.now() - begin) / 1000));
          floors.push(await bareSigningRate(join(workDir, `pki-${rep}`), devices.length));
          say(`rep ${rep + 1}/${opts.reps}: ${rates.at(-1)?.toFixed(0)} certificates/s over MQTT, bare PKI ${floors.at(-1)?.toFixed(0)}/s`);
        }
      } finally {
        await Promise.all(devices.map((d) => d.stop()));
      }
    } finally {
      await target.close();
    }
    const certificatesPerSecond = spread(rates);
    const bareSigningPerSecond = spread(floors);
    return {
      scenario: 'attestation',
      devices: opts.devices,
      reps: opts.reps,
      certificatesPerSecond,
      bareSigningPerSecond,
      ratio: certificatesPerSecond.median / bareSigningPerSecond.median,
      failed,
    };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/** Device certificates/s from the PKI alone, for CSRs made beforehand. */
async function bareSigningRate(dataDir: string, count: number): Promise<number> {
  const { pki } = await loadOrCreatePki({ dataDir, hostnames: [], serverCertificate: null, log: silentLogger });
  const tenantId = '00000000-0000-4000-8000-000000000001';
  const ca = await pki.createTenantCa(tenantId, 'Bench');
  const csrs = await Promise.all(Array.from({ length: count }, async () => createCsr(await generateKeyPair(), [{ CN: 'bench' }])));
  const begin = performance.now();
  for (const csrPem of csrs) {
    await pki.issueDeviceCertificate({ tenantId, caSerialNumber: ca.serialNumber, deviceId: 'AB'.repeat(64), csrPem, lifetimeSeconds: 86_400 });
  }
  return count / ((performance.now() - begin) / 1000);
}
