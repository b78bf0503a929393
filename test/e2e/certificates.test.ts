/**
 * Certificate brokering end to end, over the real broker, the real PKI and the real openssl CLI: a claimed device
 * attests and gets a 24-hour certificate from its tenant CA that a manufacturer's cloud admits; every way of
 * cheating attestation is refused; revocation cuts the device off everywhere; CA rotation strands nobody.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { loadIdentity, prepareAttestation, type EmulatedDevice, type IdentityFile, type StoredCertificate } from '../../device-agent/index.js';
import { startManufacturerCloud, type ManufacturerCloud } from '../../examples/manufacturer-cloud/cloud.js';
import { TEST_DATABASES } from '../db.js';
import { errorCodes, gql, gqlOk, startTestService, subscribe, type TestService } from '../harness.js';
import {
  breakCsrSignature,
  chainOf,
  claim,
  createTenant,
  helloFromCloud,
  manufactureDevices,
  nextCertificateOutcome,
  onlineDevice,
  opensslCrlText,
  opensslVerify,
  rawAttest,
  rawChallenge,
  type Tenant,
} from './certificate-support.js';

const DEVICE = `query($id: ID!) { device(id: $id) { certificateHealth certificate { serialNumber notBefore notAfter } lastAttestation { result reason } revokedAt revocationReason } }`;
const REVOKE = `mutation($id: ID!, $reason: String!) { revokeDevice(deviceId: $id, reason: $reason) { certificateHealth revokedAt } }`;
const CERTIFICATE_EVENTS = `subscription { certificateEvents { kind deviceId serialNumber reason } }`;

type CertificateEvent = { certificateEvents: { kind: string; deviceId: string; serialNumber: string | null; reason: string | null } };

describe.each(TEST_DATABASES)('certificate brokering on %s', (kind) => {
  let svc: TestService;
  let tenantA: Tenant;
  let tenantB: Tenant;
  let cloudA: ManufacturerCloud;
  let cloudB: ManufacturerCloud;
  let identities: IdentityFile[];
  const devices: EmulatedDevice[] = [];

  /** The next unused manufactured identity. */
  const nextIdentity = (): IdentityFile => {
    const identity = identities.shift();
    if (!identity) throw new Error('out of identities');
    return identity;
  };
  const track = (d: EmulatedDevice): EmulatedDevice => (devices.push(d), d);
  const heldCertificate = async (d: EmulatedDevice): Promise<StoredCertificate> => {
    const held = await d.certificate();
    if (!held) throw new Error('the device holds no certificate');
    return held;
  };
  const startCloud = async (tenant: Tenant): Promise<ManufacturerCloud> =>
    startManufacturerCloud({
      tenantId: tenant.id,
      chainPem: await chainOf(svc, tenant),
      spheregateUrl: svc.graphqlUrl.replace(/\/graphql$/, ''),
      // The example cloud borrows Spheregate's development server certificate (localhost, signed by the root).
      serverCertificatePem: await readFile(join(svc.dataDir, 'pki', 'server.pem'), 'utf8'),
      serverKeyPem: await readFile(join(svc.dataDir, 'pki', 'server.key.pem'), 'utf8'),
    });
  /** A device of `tenant`, online, holding a fresh certificate. */
  async function certifiedDevice(tenant: Tenant): Promise<{ device: EmulatedDevice; identity: IdentityFile; held: StoredCertificate }> {
    const identity = nextIdentity();
    await claim(svc, tenant, [identity]);
    const device = track(await onlineDevice(svc, identity, { attest: false }));
    const outcome = await device.renewCertificate();
    if (!outcome.ok) throw new Error(`attestation refused: ${outcome.reason}`);
    return { device, identity, held: await heldCertificate(device) };
  }

  beforeAll(async () => {
    svc = await startTestService(kind);
    [tenantA, tenantB] = await Promise.all([createTenant(svc, `Contoso ${kind}`), createTenant(svc, `Fabrikam ${kind}`)]);
    identities = await manufactureDevices(svc, 20);
    [cloudA, cloudB] = await Promise.all([startCloud(tenantA), startCloud(tenantB)]);
  });
  afterAll(async () => {
    await Promise.all(devices.map((d) => d.stop()));
    await Promise.all([cloudA?.close(), cloudB?.close()]);
    await svc.dispose();
  });

  test('a claimed device attests over MQTT and gets a certificate that openssl and its cloud accept', async () => {
    const events = subscribe<CertificateEvent>(svc.wsUrl, tenantA.key, CERTIFICATE_EVENTS);
    try {
      await events.ready;
      const identity = nextIdentity();
      await claim(svc, tenantA, [identity]);
      const device = track(await onlineDevice(svc, identity));
      const outcome = await nextCertificateOutcome(device);
      expect(outcome).toMatchObject({ ok: true });
      const held = await heldCertificate(device);

      const verdict = await opensslVerify({ chain: await chainOf(svc, tenantA), certificate: held.certificatePem });
      expect(verdict.output).toContain('OK');
      expect(verdict.ok).toBe(true);
      const cert = new X509Certificate(held.certificatePem);
      expect(cert.subjectAltName).toContain(`URI:urn:spheregate:tenant:${tenantA.id}`);
      // 24 hours by default.
      expect(Date.parse(held.notAfter) - Date.now()).toBeGreaterThan(23.9 * 3600_000);

      expect(await helloFromCloud(cloudA.port, held, svc.running.rootCaPem)).toBe(`hello ${identity.deviceId}`);

      const { device: view } = await gqlOk<{ device: { certificateHealth: string; certificate: { serialNumber: string }; lastAttestation: { result: string } } }>(
        svc.graphqlUrl,
        tenantA.key,
        DEVICE,
        { id: identity.deviceId },
      );
      expect(view).toMatchObject({ certificateHealth: 'OK', certificate: { serialNumber: held.serialNumber }, lastAttestation: { result: 'SUCCEEDED' } });
      await events.waitFor((xs) => xs.some((e) => e.certificateEvents.deviceId === identity.deviceId && e.certificateEvents.kind === 'ISSUED'));
      expect(events.items.find((e) => e.certificateEvents.deviceId === identity.deviceId)?.certificateEvents.serialNumber).toBe(held.serialNumber);
    } finally {
      await events.close();
    }
  });

  test('the broker also admits the device by its tenant-issued certificate', async () => {
    const { identity, held } = await certifiedDevice(tenantA);
    const client = await connectAsync(svc.mqttUrl, {
      protocolVersion: 4,
      clientId: identity.deviceId,
      key: held.keyPem,
      cert: `${held.certificatePem.trimEnd()}\n${held.chainPem}`,
      ca: svc.running.rootCaPem,
      reconnectPeriod: 0,
    });
    try {
      expect(client.connected).toBe(true);
    } finally {
      await client.endAsync();
    }
  });

  test("a tenant A certificate presented as tenant B's: openssl against B's chain fails and B's cloud refuses it", async () => {
    const { identity, held } = await certifiedDevice(tenantA);
    expect((await opensslVerify({ chain: await chainOf(svc, tenantB), certificate: held.certificatePem })).ok).toBe(false);
    expect(await helloFromCloud(cloudB.port, held, svc.running.rootCaPem)).toMatch(/^refused/);
    expect(await helloFromCloud(cloudA.port, held, svc.running.rootCaPem)).toBe(`hello ${identity.deviceId}`);
  });

  describe('refused attestations, each on its own', () => {
    test('a replayed nonce', async () => {
      const identity = nextIdentity();
      await claim(svc, tenantA, [identity]);
      const device = track(await onlineDevice(svc, identity, { attest: false }));
      const { nonce } = await rawChallenge(device);
      expect(await rawAttest(device, identity, nonce)).toMatchObject({ result: 'ISSUED' });
      expect(await rawAttest(device, identity, nonce)).toMatchObject({ result: 'REFUSED', reason: 'NONCE_REPLAYED' });
    });

    test("device A's nonce used by device B", async () => {
      const [a, b] = [nextIdentity(), nextIdentity()];
      await claim(svc, tenantA, [a, b]);
      const deviceA = track(await onlineDevice(svc, a, { attest: false }));
      const deviceB = track(await onlineDevice(svc, b, { attest: false }));
      const { nonce } = await rawChallenge(deviceA);
      expect(await rawAttest(deviceB, b, nonce)).toMatchObject({ result: 'REFUSED', reason: 'NONCE_INVALID' });
    });

    test('a signature by a key other than the registered identity key', async () => {
      const [identity, other] = [nextIdentity(), nextIdentity()];
      await claim(svc, tenantA, [identity]);
      const device = track(await onlineDevice(svc, identity, { attest: false }));
      const { nonce } = await rawChallenge(device);
      expect(await rawAttest(device, identity, nonce, { signAs: other })).toMatchObject({ result: 'REFUSED', reason: 'BAD_SIGNATURE' });
    });

    test('a CSR whose own signature fails', async () => {
      const identity = nextIdentity();
      await claim(svc, tenantA, [identity]);
      const device = track(await onlineDevice(svc, identity, { attest: false }));
      const { nonce } = await rawChallenge(device);
      expect(await rawAttest(device, identity, nonce, { csr: breakCsrSignature })).toMatchObject({ result: 'REFUSED', reason: 'BAD_CSR' });
    });

    test('measurements with an image never deployed or allowed', async () => {
      const identity = nextIdentity();
      await claim(svc, tenantA, [identity]);
      const device = track(await onlineDevice(svc, identity, { attest: false }));
      const { nonce } = await rawChallenge(device);
      const images = [{ componentId: '1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9', imageId: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', sha256: 'ab'.repeat(32) }];
      expect(await rawAttest(device, identity, nonce, { images })).toMatchObject({ result: 'REFUSED', reason: 'MEASUREMENT_NOT_ALLOWED' });

      // Allowed by the tenant's Administrator, the same measurement passes.
      await gqlOk(svc.graphqlUrl, tenantA.key, `mutation($i: AllowImageInput!) { allowImage(input: $i) { imageId } }`, { i: images[0] });
      const again = await rawChallenge(device);
      expect(await rawAttest(device, identity, again.nonce, { images })).toMatchObject({ result: 'ISSUED' });
    });

    test('an unclaimed device, with the reason recorded', async () => {
      const identity = nextIdentity();
      const device = track(await onlineDevice(svc, identity));
      expect(await nextCertificateOutcome(device)).toEqual({ ok: false, reason: 'DEVICE_UNCLAIMED' });
      // Claimed afterwards, it can see its own history as the tenant now does.
      await claim(svc, tenantA, [identity]);
      const { device: view } = await gqlOk<{ device: { certificateHealth: string; lastAttestation: { result: string; reason: string } } }>(
        svc.graphqlUrl,
        tenantA.key,
        DEVICE,
        { id: identity.deviceId },
      );
      expect(view.certificateHealth).toBe('ATTESTATION_FAILED');
      expect(view.lastAttestation).toMatchObject({ result: 'FAILED', reason: expect.stringContaining('DEVICE_UNCLAIMED') });
    });
  });

  test('revocation: the live connection is cut within a second, reconnect and renewal are refused, the CRL lists it, its cloud refuses it', async () => {
    const { device, identity, held } = await certifiedDevice(tenantA);
    expect(await helloFromCloud(cloudA.port, held, svc.running.rootCaPem)).toBe(`hello ${identity.deviceId}`);
    const events = subscribe<CertificateEvent>(svc.wsUrl, tenantA.key, CERTIFICATE_EVENTS);
    try {
      await events.ready;
      const offline = new Promise<number>((resolve) => device.once('offline', () => resolve(Date.now())));
      const revokedAt = Date.now();
      const answer = await gqlOk<{ revokeDevice: { certificateHealth: string } }>(svc.graphqlUrl, tenantA.key, REVOKE, { id: identity.deviceId, reason: 'stolen' });
      expect(answer.revokeDevice.certificateHealth).toBe('REVOKED');
      expect((await offline) - revokedAt).toBeLessThan(1000);
      await events.waitFor((xs) => xs.some((e) => e.certificateEvents.kind === 'REVOKED' && e.certificateEvents.deviceId === identity.deviceId));

      // Reconnecting with either certificate: CONNACK 5 (not authorized).
      for (const tls of [
        { key: identity.privateKeyPem, cert: identity.certificatePem },
        { key: held.keyPem, cert: `${held.certificatePem.trimEnd()}\n${held.chainPem}` },
      ]) {
        await expect(
          connectAsync(svc.mqttUrl, { protocolVersion: 4, clientId: identity.deviceId, ...tls, ca: svc.running.rootCaPem, reconnectPeriod: 0 }),
        ).rejects.toMatchObject({ code: 5 });
      }
      // Renewal is refused too (asked of the service directly: the device cannot reach it over MQTT any more).
      const challenge = await svc.running.services.attestation.challenge(identity.deviceId);
      if (!('nonce' in challenge)) throw new Error('no nonce');
      const signer = await loadIdentity(identity);
      const { message } = await prepareAttestation({
        deviceId: identity.deviceId,
        requestId: 'after-revocation',
        nonce: challenge.nonce,
        measurements: { osVersion: '24.10', images: [] },
        sign: (data) => signer.sign(data),
      });
      const renewal = await svc.running.services.attestation.attest(identity.deviceId, {
        statement: new Uint8Array(Buffer.from(message.statement, 'base64')),
        signature: new Uint8Array(Buffer.from(message.signature, 'base64')),
      });
      expect(renewal).toMatchObject({ ok: false, reason: 'DEVICE_REVOKED' });

      const crlResponse = await fetch(`${svc.graphqlUrl.replace(/\/graphql$/, '')}/tenants/${tenantA.id}/crl`);
      expect(crlResponse.status).toBe(200);
      const crl = await crlResponse.text();
      expect(await opensslCrlText(crl)).toContain(`Serial Number: ${held.serialNumber}`);
      const checked = await opensslVerify({ chain: await chainOf(svc, tenantA), certificate: held.certificatePem, crl });
      expect(checked.ok).toBe(false);
      expect(checked.output).toContain('certificate revoked');

      await cloudA.refreshCrl();
      expect(await helloFromCloud(cloudA.port, held, svc.running.rootCaPem)).toMatch(/^refused/);
      // Revoking is an Administrator's call only, and never reaches another tenant's device.
      const other = await certifiedDevice(tenantA);
      expect(errorCodes(await gql(svc.graphqlUrl, tenantB.key, REVOKE, { id: other.identity.deviceId, reason: 'x' }))).toEqual(['NOT_FOUND']);
    } finally {
      await events.close();
    }
  });

  test('CA rotation: old certificates keep working until renewal, new ones chain to the new CA, the chain holds both', async () => {
    const before = await certifiedDevice(tenantA);
    const { rotateTenantCa } = await gqlOk<{ rotateTenantCa: { serialNumber: string; status: string; certificate: string } }>(
      svc.graphqlUrl,
      tenantA.key,
      `mutation { rotateTenantCa { serialNumber status certificate } }`,
    );
    expect(rotateTenantCa.status).toBe('Active');
    const { tenantCaCertificates } = await gqlOk<{ tenantCaCertificates: Array<{ serialNumber: string; status: string; sha1Thumbprint: string }> }>(
      svc.graphqlUrl,
      tenantA.key,
      `{ tenantCaCertificates { serialNumber status sha1Thumbprint } }`,
    );
    expect(tenantCaCertificates.map((c) => c.status)).toEqual(['Active', 'Inactive']);
    expect(tenantCaCertificates[0]?.serialNumber).toBe(rotateTenantCa.serialNumber);

    const chain = await chainOf(svc, tenantA);
    expect(chain.match(/BEGIN CERTIFICATE/g)).toHaveLength(3); // new CA, old CA, root
    expect((await opensslVerify({ chain, certificate: before.held.certificatePem })).ok).toBe(true);

    // A cloud that loaded the new chain still admits the device certified under the old CA.
    const rotatedCloud = await startCloud(tenantA);
    try {
      expect(await helloFromCloud(rotatedCloud.port, before.held, svc.running.rootCaPem)).toBe(`hello ${before.identity.deviceId}`);
      // Its renewal comes from the new CA.
      const renewed = await before.device.renewCertificate();
      expect(renewed).toMatchObject({ ok: true, renewal: true });
      const fresh = await heldCertificate(before.device);
      const newCaOnly = `${rotateTenantCa.certificate.trimEnd()}\n${svc.running.rootCaPem}`;
      expect((await opensslVerify({ chain: newCaOnly, certificate: fresh.certificatePem })).ok).toBe(true);
      expect((await opensslVerify({ chain: newCaOnly, certificate: before.held.certificatePem })).ok).toBe(false);
      expect(await helloFromCloud(rotatedCloud.port, fresh, svc.running.rootCaPem)).toBe(`hello ${before.identity.deviceId}`);
    } finally {
      await rotatedCloud.close();
    }
  });

  test('a proof-of-possession certificate carries the code and verifies against the active tenant CA', async () => {
    const { proofOfPossessionCertificate: pem } = await gqlOk<{ proofOfPossessionCertificate: string }>(
      svc.graphqlUrl,
      tenantB.key,
      `mutation($code: String!) { proofOfPossessionCertificate(verificationCode: $code) }`,
      { code: '8F0C2D1B-77AA' },
    );
    const certificate = new X509Certificate(pem);
    expect(certificate.subject).toBe('CN=8F0C2D1B-77AA');
    expect((await opensslVerify({ chain: await chainOf(svc, tenantB), certificate: pem })).ok).toBe(true);
    expect((await opensslVerify({ chain: await chainOf(svc, tenantA), certificate: pem })).ok).toBe(false);
    const bad = await gql(svc.graphqlUrl, tenantB.key, `mutation { proofOfPossessionCertificate(verificationCode: "CN=x, O=y") }`);
    expect(errorCodes(bad)).toEqual(['BAD_USER_INPUT']);
  });
});
