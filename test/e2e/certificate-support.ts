/**
 * Shared steps of the certificate-brokering end-to-end tests: tenants over GraphQL, devices from the real agent,
 * attestation driven by hand over MQTT (to send what a broken or hostile device would), and the real openssl CLI.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { decode, encode } from '../../contract/mqtt/codec.js';
import type { AttestationResult, Challenge } from '../../contract/mqtt/messages.js';
import { downTopic, upTopic } from '../../contract/mqtt/topics.js';
import { EmulatedDevice, loadIdentity, manufacture, MemoryCertificateStore, prepareAttestation, type IdentityFile } from '../../device-agent/index.js';
import { gqlOk, until, type TestService } from '../harness.js';

const run = promisify(execFile);

export interface Tenant {
  readonly id: string;
  readonly key: string;
}

export async function createTenant(svc: TestService, name: string): Promise<Tenant> {
  const { createTenant } = await gqlOk<{ createTenant: { tenant: { id: string }; adminKey: { secret: string } } }>(
    svc.graphqlUrl,
    svc.running.adminKey,
    `mutation($name: String!) { createTenant(input: { name: $name }) { tenant { id } adminKey { secret } } }`,
    { name },
  );
  return { id: createTenant.tenant.id, key: createTenant.adminKey.secret };
}

export async function manufactureDevices(svc: TestService, count: number): Promise<IdentityFile[]> {
  return manufacture({
    serviceUrl: svc.graphqlUrl.replace(/\/graphql$/, ''),
    adminKey: svc.running.adminKey,
    count,
    trustAnchorsPem: svc.running.rootCaPem,
  });
}

export async function claim(svc: TestService, tenant: Tenant, identities: readonly IdentityFile[]): Promise<void> {
  const { claimDevices } = await gqlOk<{ claimDevices: Array<{ ok: boolean }> }>(
    svc.graphqlUrl,
    tenant.key,
    `mutation($ids: [ID!]!) { claimDevices(deviceIds: $ids) { ok } }`,
    { ids: identities.map((i) => i.deviceId) },
  );
  if (!claimDevices.every((r) => r.ok)) throw new Error('claim failed');
}

export async function chainOf(svc: TestService, tenant: Tenant): Promise<string> {
  return (await gqlOk<{ caCertificateChain: string }>(svc.graphqlUrl, tenant.key, `{ caCertificateChain }`)).caCertificateChain;
}

/**
 * A device online over the real broker; resolves once it is online. It attests by itself as soon as it is online
 * unless `attest: false` (then only when renewCertificate() is called).
 */
export async function onlineDevice(svc: TestService, identity: IdentityFile, opts: { attest?: boolean } = {}): Promise<EmulatedDevice> {
  const device = new EmulatedDevice({
    identity,
    brokerUrl: svc.mqttUrl,
    backoff: { baseMs: 200, capMs: 1000 },
    attestation: { store: new MemoryCertificateStore(), enabled: opts.attest !== false, retry: { baseMs: 60_000, capMs: 60_000 } },
  });
  const online = new Promise<void>((resolve) => device.once('online', () => resolve()));
  device.start();
  await online;
  return device;
}

/** Waits for the device's next certificate (or refusal) event. */
export function nextCertificateOutcome(device: EmulatedDevice, timeoutMs = 10_000): Promise<{ ok: true; serialNumber: string } | { ok: false; reason: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no certificate outcome')), timeoutMs);
    device.once('certificate', (c) => {
      clearTimeout(timer);
      resolve({ ok: true, serialNumber: c.serialNumber });
    });
    device.once('certificate-refused', (r) => {
      clearTimeout(timer);
      resolve({ ok: false, reason: r.reason });
    });
  });
}

/** Sends one message and waits for the device's next message on `down/<reply>` with the same requestId. */
async function exchange(device: EmulatedDevice, up: 'challenge-request' | 'attestation', body: Buffer, requestId: string, reply: 'challenge' | 'attestation-result'): Promise<Buffer> {
  const topic = downTopic(device.deviceId, reply);
  const answer = new Promise<Buffer>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${reply}`)), 10_000);
    const onMessage = (t: string, payload: Buffer): void => {
      if (t !== topic || !payload.toString('utf8').includes(`"requestId":"${requestId}"`)) return;
      clearTimeout(timer);
      device.off('message', onMessage);
      resolve(payload);
    };
    device.on('message', onMessage);
  });
  await device.publishRaw(upTopic(device.deviceId, up), body, 1);
  return answer;
}

export async function rawChallenge(device: EmulatedDevice): Promise<Challenge> {
  const requestId = `c${Math.random().toString(36).slice(2, 10)}`;
  const payload = await exchange(device, 'challenge-request', encode('challenge-request', { v: 1, requestId }), requestId, 'challenge');
  const decoded = decode('challenge', payload);
  if (!decoded.ok) throw new Error(`not a challenge: ${payload.toString('utf8')}`);
  return decoded.value;
}

export interface RawAttestOptions {
  /** Sign with another device's identity (a bad signature). */
  readonly signAs?: IdentityFile;
  readonly images?: ReadonlyArray<{ componentId: string; imageId: string; sha256: string }>;
  readonly osVersion?: string;
  /** Rewrites the CSR before signing (e.g. to break its own signature). */
  readonly csr?: (pem: string) => string;
}

/** One attestation by hand with the given nonce: what a device (well-behaved or not) would send. */
export async function rawAttest(device: EmulatedDevice, identity: IdentityFile, nonce: string, opts: RawAttestOptions = {}): Promise<AttestationResult> {
  const signer = await loadIdentity(opts.signAs ?? identity);
  const requestId = `a${Math.random().toString(36).slice(2, 10)}`;
  const prepared = await prepareAttestation({
    deviceId: identity.deviceId,
    requestId,
    nonce,
    measurements: { osVersion: opts.osVersion ?? '24.10', images: opts.images ?? [] },
    sign: (data) => signer.sign(data),
  });
  let message = prepared.message;
  if (opts.csr) {
    const statement = JSON.parse(Buffer.from(message.statement, 'base64').toString('utf8')) as { csr: string };
    statement.csr = opts.csr(statement.csr);
    const bytes = new TextEncoder().encode(JSON.stringify(statement));
    message = { ...message, statement: Buffer.from(bytes).toString('base64'), signature: Buffer.from(await signer.sign(bytes)).toString('base64') };
  }
  const payload = await exchange(device, 'attestation', encode('attestation', message), requestId, 'attestation-result');
  const decoded = decode('attestation-result', payload);
  if (!decoded.ok) throw new Error(`not an attestation result: ${payload.toString('utf8')}`);
  return decoded.value;
}

/** The CSR with one bit of its signature flipped: it still parses, but its own signature fails. */
export function breakCsrSignature(pem: string): string {
  const der = Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s/g, ''), 'base64');
  der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0x01;
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}

/** Writes PEM files into a fresh temporary folder and runs `openssl verify`; ok is its exit status. */
export async function opensslVerify(files: { chain: string; certificate: string; crl?: string }): Promise<{ ok: boolean; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'sg-openssl-'));
  const path = async (name: string, content: string): Promise<string> => {
    const p = join(dir, name);
    await writeFile(p, content);
    return p;
  };
  const args = ['verify', '-CAfile', await path('chain.pem', files.chain)];
  if (files.crl !== undefined) args.push('-crl_check', '-CRLfile', await path('crl.pem', files.crl));
  args.push(await path('cert.pem', files.certificate));
  try {
    const { stdout, stderr } = await run('openssl', args);
    return { ok: true, output: stdout + stderr };
  } catch (e) {
    const out = e as { stdout?: string; stderr?: string };
    return { ok: false, output: `${out.stdout ?? ''}${out.stderr ?? ''}` };
  }
}

export async function opensslCrlText(crlPem: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sg-openssl-'));
  const p = join(dir, 'crl.pem');
  await writeFile(p, crlPem);
  const { stdout } = await run('openssl', ['crl', '-in', p, '-noout', '-text']);
  return stdout;
}

/**
 * Connects to a relying party's TLS server as the device with its tenant certificate. Resolves with the line the
 * server answers, or `refused: <reason>` when the handshake or the server turns it away.
 */
export function helloFromCloud(port: number, client: { certificatePem: string; chainPem: string; keyPem: string }, rootCaPem: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      key: client.keyPem,
      cert: `${client.certificatePem.trimEnd()}\n${client.chainPem}`,
      ca: rootCaPem,
    });
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    socket.on('end', () => resolve(text.trim() || 'refused: closed'));
    socket.on('error', (e) => resolve(text.trim() || `refused: ${e.message}`));
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
  });
}

export { until };
