import { createPrivateKey, createPublicKey, verify, webcrypto } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { AttestationStatement } from '../contract/mqtt/messages.js';
import { decode } from '../contract/mqtt/codec.js';
import { prepareAttestation } from './attestation.js';
import { FileCertificateStore, MemoryCertificateStore, type StoredCertificate } from './certificate-store.js';
import { createDeviceKey } from './device-key.js';
import { deviceIdOfPrivateKey } from './identity.js';

async function identityKey() {
  const made = await createDeviceKey();
  const der = createPrivateKey(made.privateKeyPem).export({ format: 'der', type: 'pkcs8' });
  const key = await webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  return {
    deviceId: made.deviceId,
    privateKeyPem: made.privateKeyPem,
    sign: async (data: Uint8Array) => new Uint8Array(await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key, data)),
  };
}

describe('prepareAttestation', () => {
  test('signs a statement of the contract with the identity key, for a CSR of a new key', async () => {
    const identity = await identityKey();
    const images = [{ componentId: '1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9', imageId: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', sha256: 'ab'.repeat(32) }];
    const prepared = await prepareAttestation({
      deviceId: identity.deviceId,
      requestId: 'r1',
      nonce: 'N'.repeat(43),
      measurements: { osVersion: '24.10', images },
      sign: identity.sign,
    });
    // The envelope is a valid contract message ...
    const encoded = Buffer.from(JSON.stringify(prepared.message));
    expect(decode('attestation', encoded)).toMatchObject({ ok: true });
    // ... whose statement is a valid AttestationStatement naming this device, nonce and measurements ...
    const bytes = Buffer.from(prepared.message.statement, 'base64');
    const statement: unknown = JSON.parse(bytes.toString('utf8'));
    expect(TypeCompiler.Compile(AttestationStatement).Check(statement)).toBe(true);
    expect(statement).toMatchObject({ nonce: 'N'.repeat(43), deviceId: identity.deviceId, measurements: { osVersion: '24.10', images } });
    // ... signed (P1363) by the identity key over exactly those bytes ...
    const publicKey = createPublicKey(identity.privateKeyPem);
    const signature = Buffer.from(prepared.message.signature, 'base64');
    expect(signature).toHaveLength(64);
    expect(verify('sha256', bytes, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)).toBe(true);
    expect(verify('sha256', Buffer.concat([bytes, Buffer.from(' ')]), { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)).toBe(false);
    // ... and the CSR is for the operational key, not the identity key.
    expect(deviceIdOfPrivateKey(prepared.operationalKeyPem)).not.toBe(identity.deviceId);
    expect((statement as { csr: string }).csr).toContain('BEGIN CERTIFICATE REQUEST');
  });
});

describe('certificate stores', () => {
  const stored: StoredCertificate = {
    certificatePem: '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n',
    chainPem: '-----BEGIN CERTIFICATE-----\nBB==\n-----END CERTIFICATE-----\n',
    keyPem: '-----BEGIN PRIVATE KEY-----\nCC==\n-----END PRIVATE KEY-----\n',
    serialNumber: '0A1B',
    notBefore: '2030-01-01T00:00:00.000Z',
    notAfter: '2030-01-02T00:00:00.000Z',
  };

  test('the file store keeps the certificate across instances, readable by its owner only', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sg-store-'));
    try {
      const identityPath = join(dir, 'ABCD.json');
      const store = FileCertificateStore.besideIdentity(identityPath);
      expect(store.path).toBe(join(dir, 'ABCD.certificate.json'));
      expect(await store.load()).toBeNull();
      await store.save(stored);
      expect((await stat(store.path)).mode & 0o777).toBe(0o600);
      expect(await FileCertificateStore.besideIdentity(identityPath).load()).toEqual(stored);
      await store.save({ ...stored, serialNumber: '0C0D' });
      expect((await new FileCertificateStore(store.path).load())?.serialNumber).toBe('0C0D');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('the memory store holds the last one saved', async () => {
    const store = new MemoryCertificateStore();
    expect(await store.load()).toBeNull();
    await store.save(stored);
    expect(await store.load()).toEqual(stored);
  });
});
