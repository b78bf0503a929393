import { createPublicKey, webcrypto } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDeviceIdentity, makeDeviceIdentityWithMismatchedSan, makeTestPki, type TestPki } from '../test/fixtures/pki.js';
import {
  IdentityFileError,
  deviceIdOfPrivateKey,
  loadIdentity,
  parseIdentityFile,
  readIdentityFile,
  writeIdentityFile,
  type IdentityFile,
} from './identity.js';

describe('identity file', () => {
  let pki: TestPki;
  let dir: string;
  let identity: IdentityFile;

  beforeAll(async () => {
    pki = await makeTestPki();
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spheregate-identity-'));
    const made = await makeDeviceIdentity(pki.manufacturingCa);
    identity = {
      version: 1,
      deviceId: made.deviceId,
      privateKeyPem: made.keyPem,
      certificatePem: made.certificatePem,
      trustAnchorsPem: pki.root.certificatePem,
    };
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips through a file readable by its owner only', async () => {
    const path = join(dir, `${identity.deviceId}.json`);
    await writeIdentityFile(path, identity);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readIdentityFile(path)).toEqual(identity);
    expect(JSON.parse(await readFile(path, 'utf8'))).toMatchObject({ version: 1, deviceId: identity.deviceId });
  });

  it('When a file already exists, then writing refuses to overwrite it', async () => {
    const path = join(dir, 'device.json');
    await writeIdentityFile(path, identity);
    await expect(writeIdentityFile(path, identity)).rejects.toThrow(/EEXIST/);
  });

  it('loads the key as a non-extractable P-256 signing key whose signatures verify with the certificate', async () => {
    const loaded = await loadIdentity(identity);
    expect(loaded.deviceId).toBe(identity.deviceId);
    expect(loaded.signingKey.extractable).toBe(false);
    expect(loaded.signingKey.usages).toEqual(['sign']);
    await expect(webcrypto.subtle.exportKey('pkcs8', loaded.signingKey)).rejects.toThrow();
    expect(loaded.tls).toEqual({ key: identity.privateKeyPem, cert: identity.certificatePem, ca: identity.trustAnchorsPem });

    const data = new TextEncoder().encode('nonce-123');
    const signature = await loaded.sign(data);
    const publicKey = await webcrypto.subtle.importKey(
      'jwk',
      createPublicKey(identity.certificatePem).export({ format: 'jwk' }),
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['verify'],
    );
    expect(await webcrypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, publicKey, signature, data)).toBe(true);
  });

  it('derives the device id from the private key as the contract says', () => {
    expect(deviceIdOfPrivateKey(identity.privateKeyPem)).toBe(identity.deviceId);
  });

  it('When the device id does not belong to the key, then loading refuses the file', async () => {
    const other = await makeDeviceIdentity(pki.manufacturingCa);
    await expect(loadIdentity({ ...identity, deviceId: other.deviceId })).rejects.toThrow(/deviceId does not belong/);
  });

  it('When the certificate is for another key, then loading refuses the file', async () => {
    const other = await makeDeviceIdentity(pki.manufacturingCa);
    await expect(loadIdentity({ ...identity, certificatePem: other.certificatePem })).rejects.toThrow(/certificatePem/);
    const mismatched = await makeDeviceIdentityWithMismatchedSan(pki.manufacturingCa);
    // The SAN claims an id the key does not give: the file cannot name a consistent device.
    await expect(
      loadIdentity({ ...identity, deviceId: mismatched.deviceId, privateKeyPem: mismatched.keyPem, certificatePem: mismatched.certificatePem }),
    ).rejects.toThrow(IdentityFileError);
  });

  it('When the JSON is not a v1 identity, then the error names the field', async () => {
    expect(() => parseIdentityFile({ ...identity, version: 2 }, 'x.json')).toThrow(/x\.json: \/version/);
    expect(() => parseIdentityFile({ ...identity, deviceId: 'abc' }, 'x.json')).toThrow(/\/deviceId/);
    expect(() => parseIdentityFile({ ...identity, extra: true }, 'x.json')).toThrow(IdentityFileError);
    const path = join(dir, 'broken.json');
    await writeFile(path, '{ nope');
    await expect(readIdentityFile(path)).rejects.toThrow(/not valid JSON/);
  });
});
