import { createHash, X509Certificate } from 'node:crypto';
import {
  makeDeviceIdentity,
  makeDeviceIdentityWithMismatchedSan,
  makeTestPki,
  type TestPki,
} from '../test/fixtures/pki.js';
import { deviceIdUri, tenantIdUri } from '../contract/identity.js';
import { generateKeyPair, issueCertificate } from '../infra/pki/x509.js';
import { identityFromCertificate, sha256Thumbprint, subjectAltNameUris, subjectPublicKeyInfo } from './identity.js';

let pki: TestPki;
beforeAll(async () => {
  pki = await makeTestPki();
});

/** A certificate as the tenant CA issues it after attestation: a new operational key, the device's and a tenant's URIs. */
async function tenantIssuedCertificate(deviceId: string): Promise<string> {
  const keys = await generateKeyPair();
  return issueCertificate({
    issuer: pki.root,
    publicKey: keys.publicKey,
    subject: [{ CN: deviceId.slice(0, 64) }],
    validDays: 1,
    extKeyUsage: 'clientAuth',
    sanUri: [deviceIdUri(deviceId), tenantIdUri('6db2fdfb-a109-4564-99fc-ad9281e5b857')],
  });
}

describe('identityFromCertificate', () => {
  test('gives the device id of the SAN and key, and the SHA-256 thumbprint of the DER', async () => {
    const device = await makeDeviceIdentity(pki.manufacturingCa);
    const certificate = new X509Certificate(device.certificatePem);
    const result = identityFromCertificate(certificate);
    expect(result).toEqual({
      ok: true,
      identity: {
        deviceId: device.deviceId,
        sha256Thumbprint: createHash('sha256').update(certificate.raw).digest('hex').toUpperCase(),
        kind: 'identity',
      },
    });
    if (result.ok) expect(result.identity.sha256Thumbprint).toMatch(/^[0-9A-F]{64}$/);
  });

  test('the thumbprint equals the one node computes (fingerprint256 without colons)', async () => {
    const certificate = new X509Certificate((await makeDeviceIdentity(pki.manufacturingCa)).certificatePem);
    expect(sha256Thumbprint(certificate)).toBe(certificate.fingerprint256.replaceAll(':', ''));
  });

  test('refuses a SAN naming another key\'s device id', async () => {
    const impostor = await makeDeviceIdentityWithMismatchedSan(pki.manufacturingCa);
    expect(identityFromCertificate(new X509Certificate(impostor.certificatePem))).toEqual({
      ok: false,
      reason: 'DEVICE_ID_MISMATCH',
      claimedDeviceId: impostor.deviceId,
    });
  });

  test('a tenant-issued device certificate (operational key, device and tenant URIs) is of kind tenant', async () => {
    const device = await makeDeviceIdentity(pki.manufacturingCa);
    const pem = await tenantIssuedCertificate(device.deviceId);
    expect(identityFromCertificate(new X509Certificate(pem))).toMatchObject({ ok: true, identity: { deviceId: device.deviceId, kind: 'tenant' } });
    // Two tenant URIs: it cannot say whose device it is.
    const twoTenants = await issueCertificate({
      issuer: pki.root,
      publicKey: (await generateKeyPair()).publicKey,
      subject: [{ CN: 'x' }],
      validDays: 1,
      extKeyUsage: 'clientAuth',
      sanUri: [deviceIdUri(device.deviceId), tenantIdUri('a'), tenantIdUri('b')],
    });
    expect(identityFromCertificate(new X509Certificate(twoTenants))).toMatchObject({ ok: false, reason: 'DEVICE_ID_MISMATCH' });
  });

  test('refuses a key that is not P-256, whether JWK can express its curve (P-384) or not (brainpoolP256r1)', () => {
    // Self-signed by openssl, SAN URI urn:spheregate:device:AAAA… (128 hex).
    const p384 = `-----BEGIN CERTIFICATE-----
MIICVDCCAdugAwIBAgIUR0fNgk0cDsRmqtKpTGlwsT8wsRwwCgYIKoZIzj0EAwIw
DDEKMAgGA1UEAwwBeDAgFw0yNjEyMDIxODA0MTJaGA8yMTI2MTEwODE4MDQxMlow
DDEKMAgGA1UEAwwBeDB2MBAGByqGSM49AgEGBSuBBAAiA2IABPlvGi+Yz2nXQ+Pg
otvQbdShVAFnb+CBX0F+/WgvrbyF3hBU7UmKHmN23DDH+RTn9/+2oo2KltBGl/d/
4S4w0qJm3dRuHTj76rNH2SRgdYCcc1VmkH9uZHAmCeI4NsGeYaOB+zCB+DAdBgNV
HQ4EFgQU3x7eSAbdHY6K2eQvoksWeMhGcUUwHwYDVR0jBBgwFoAU3x7eSAbdHY6K
2eQvoksWeMhGcUUwDwYDVR0TAQH/BAUwAwEB/zCBpAYDVR0RBIGcMIGZhoGWdXJu
OnNwaGVyZWdhdGU6ZGV2aWNlOkFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB
QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB
QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB
QUFBMAoGCCqGSM49BAMCA2cAMGQCMFlkgfwbRi9m4Jt3g9KXAJDMKuQ6ET8X274C
e6nvBgAR4UYJdR+3Xdgj+7RD1p2U9AIwfQutkNYxOzaAmBxtt6+7290qS2COaD1u
033OmNv078fy+hBBBFM8cGNMagQRsS8n
-----END CERTIFICATE-----`;
    const brainpool = `-----BEGIN CERTIFICATE-----
MIICGDCCAb+gAwIBAgIUKAOOwvF/MyO+SyWEFoy/WfRA1SgwCgYIKoZIzj0EAwIw
DDEKMAgGA1UEAwwBeDAgFw0yNjEyMDIxODA0MTJaGA8yMTI2MTEwODE4MDQxMlow
DDEKMAgGA1UEAwwBeDBaMBQGByqGSM49AgEGCSskAwMCCAEBBwNCAAQRaXYXW8XX
GffZ2IBJyWSNNzU9inPRyPYntNqTJ1G2vUlzexqNMGQOHekOydp86ehtpMukNYoE
3p5U6+rGXbnso4H7MIH4MB0GA1UdDgQWBBTrF+d+Aqm0A2WwzBgaimvAOJr/czAf
BgNVHSMEGDAWgBTrF+d+Aqm0A2WwzBgaimvAOJr/czAPBgNVHRMBAf8EBTADAQH/
MIGkBgNVHREEgZwwgZmGgZZ1cm46c3BoZXJlZ2F0ZTpkZXZpY2U6QUFBQUFBQUFB
QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB
QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB
QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUEwCgYIKoZIzj0EAwIDRwAwRAIgMHIIktE3
7+RRMEG4GXX6KkrdRNXy0BsR/J8pr53rbHICID/ZT16odlUjHa9YjjRssG+pa+Ej
xGtlAWO2k89gM/Vf
-----END CERTIFICATE-----`;
    for (const pem of [p384, brainpool]) {
      expect(identityFromCertificate(new X509Certificate(pem))).toEqual({ ok: false, reason: 'UNSUPPORTED_KEY', claimedDeviceId: 'A'.repeat(128) });
    }
  });

  test('refuses a certificate without a device id URI (the server certificate)', () => {
    expect(identityFromCertificate(new X509Certificate(pki.server.certificatePem))).toEqual({
      ok: false,
      reason: 'NO_DEVICE_ID',
      claimedDeviceId: null,
    });
  });
});

describe('subjectAltNameUris', () => {
  const id = 'C'.repeat(128);
  test.each([
    [undefined, []],
    ['', []],
    [`URI:urn:spheregate:device:${id}`, [`urn:spheregate:device:${id}`]],
    [`DNS:localhost, URI:urn:a, IP Address:127.0.0.1, URI:urn:b`, ['urn:a', 'urn:b']],
    // Node quotes values with special characters as JSON strings (CVE-2021-44532).
    [`DNS:"evil, URI:urn:spheregate:device:${id}", URI:urn:real`, ['urn:real']],
    [`URI:"urn:with\\u002c comma"`, ['urn:with, comma']],
  ] as const)('%s', (san, expected) => {
    expect(subjectAltNameUris(san)).toEqual(expected);
  });
});

describe('subjectPublicKeyInfo', () => {
  test("is the certificate's key exactly as node exports it (SPKI DER), for device, tenant-issued and server certificates", async () => {
    const device = await makeDeviceIdentity(pki.manufacturingCa);
    const tenantIssued = await tenantIssuedCertificate(device.deviceId);
    for (const pem of [device.certificatePem, tenantIssued, pki.server.certificatePem]) {
      const certificate = new X509Certificate(pem);
      expect(subjectPublicKeyInfo(certificate.raw)).toEqual(certificate.publicKey.export({ type: 'spki', format: 'der' }));
    }
  });

  test('is null for DER cut short or not a certificate', async () => {
    const raw = new X509Certificate((await makeDeviceIdentity(pki.manufacturingCa)).certificatePem).raw;
    for (const cut of [0, 1, 4, 40, 120, 200]) expect(subjectPublicKeyInfo(raw.subarray(0, cut))).toBeNull();
    expect(subjectPublicKeyInfo(Buffer.from('020101', 'hex'))).toBeNull();
  });
});
