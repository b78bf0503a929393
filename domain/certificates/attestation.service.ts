/**
 * Remote attestation: a device proves with its identity key that it holds a fresh nonce and runs what it is
 * allowed to run, and receives a short-lived certificate from its tenant's CA for a new key it made itself.
 * Every refusal is recorded on the device (lastAttestation), logged and announced; nothing is issued on doubt.
 */
import { randomBytes } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/core';
import { Device, type DeviceEntity } from '../devices/device.entity.js';
import type { CertificateEventKind } from '../events/events.js';
import type { AttestationService } from '../services.js';
import { announce } from '../shared/announce.js';
import { notFound } from '../shared/errors.js';
import type { ServiceDeps } from '../shared/service-deps.js';
import type { AttestationEvidence, AttestationOutcome, AttestationRefusalReason } from '../views.js';
import { AttestationNonce } from './attestation-nonce.entity.js';
import { certificateChanged } from './certificate-events.js';
import { parseStatement, type Statement } from './attestation-statement.js';
import { DeviceCertificate } from './device-certificate.entity.js';
import { AllowedImage, OsRelease } from './measurement.entities.js';
import { activeCa, tenantCas } from './tenant-cas.js';

/** Unused, unexpired nonces one device may hold at once: bounds what a misbehaving device can make us store. */
export const MAX_OUTSTANDING_NONCES = 5;
/**
 * EXPIRING from 80 % of the lifetime on: the latest point a healthy device renews at (agents renew at a random
 * point between 60 % and 80 %, see PROTOCOL.md), so EXPIRING means "overdue for renewal".
 */
const RENEW_AFTER_FRACTION = 0.8;

type Refusal = { readonly reason: AttestationRefusalReason; readonly detail: string };
const refusal = (reason: AttestationRefusalReason, detail: string): Refusal => ({ reason, detail });

export function createAttestationService(deps: ServiceDeps): AttestationService {
  const log = deps.log.child({ service: 'attestation' });
  const policy = deps.certificates;

  async function requireDevice(em: EntityManager, deviceId: string): Promise<DeviceEntity> {
    const device = await em.findOne(Device, { id: deviceId });
    if (!device) throw notFound('Device', deviceId);
    return device;
  }

  const announceFor = (device: DeviceEntity, kind: CertificateEventKind, at: Date, extra: { serialNumber?: string; notAfter?: Date; reason?: string }) =>
    announce(deps.bus, log, certificateChanged(device, kind, at, extra));

  /** Single use: consumed whatever comes next. A nonce of another device is left alone for its owner. */
  async function consumeNonce(em: EntityManager, deviceId: string, nonce: string, now: Date): Promise<Refusal | null> {
    const row = await em.findOne(AttestationNonce, { nonce }, { disableIdentityMap: true });
    if (!row || row.device !== deviceId) return refusal('NONCE_INVALID', 'the nonce was not issued to this device');
    if (row.usedAt) return refusal('NONCE_REPLAYED', 'the nonce has been used before');
    const consumed = await em.nativeUpdate(AttestationNonce, { nonce, device: deviceId, usedAt: null }, { usedAt: now });
    if (consumed !== 1) return refusal('NONCE_REPLAYED', 'the nonce has been used before');
    if (row.expiresAt.getTime() <= now.getTime()) return refusal('NONCE_EXPIRED', `the nonce expired at ${row.expiresAt.toISOString()}`);
    return null;
  }

  async function checkMeasurements(em: EntityManager, tenantId: string, measurements: Statement['measurements']): Promise<Refusal | null> {
    if (!(await em.count(OsRelease, { version: measurements.osVersion }))) {
      return refusal('MEASUREMENT_NOT_ALLOWED', `OS version ${measurements.osVersion} is not a release the platform knows`);
    }
    for (const image of measurements.images) {
      const sha256 = image.sha256.toUpperCase();
      if (!(await em.count(AllowedImage, { tenant: tenantId, imageId: image.imageId.toLowerCase(), sha256 }))) {
        return refusal('MEASUREMENT_NOT_ALLOWED', `image ${image.imageId} with SHA-256 ${sha256} is neither deployed nor allowed to this device`);
      }
    }
    return null;
  }

  /** Everything that must hold before a certificate is issued, in the documented order. */
  async function verify(em: EntityManager, device: DeviceEntity, evidence: AttestationEvidence, now: Date): Promise<Refusal | { statement: Statement }> {
    const parsed = parseStatement(evidence.statement);
    if (!parsed.ok) return refusal('BAD_STATEMENT', parsed.reason);
    const { statement } = parsed;
    if (statement.deviceId !== device.id) return refusal('BAD_STATEMENT', 'the statement names another device');
    const nonce = await consumeNonce(em, device.id, statement.nonce, now);
    if (nonce) return nonce;
    if (!(await deps.pki.verifyDeviceSignature(device.publicKeyHex, evidence.statement, evidence.signature))) {
      return refusal('BAD_SIGNATURE', 'the signature does not verify with the identity key registered for this device');
    }
    const csr = await deps.pki.checkCsr(statement.csr);
    if (!csr.ok) return refusal('BAD_CSR', csr.reason);
    if (csr.publicKeyHex === device.publicKeyHex.toUpperCase()) return refusal('BAD_CSR', 'the CSR is for the identity key; make a new key');
    if (device.revokedAt) return refusal('DEVICE_REVOKED', 'the device is revoked');
    if (!device.tenant) return refusal('DEVICE_UNCLAIMED', 'the device is not claimed by a tenant');
    const measured = await checkMeasurements(em, device.tenant, statement.measurements);
    if (measured) return measured;
    return { statement };
  }

  async function refuse(em: EntityManager, device: DeviceEntity, failure: Refusal, now: Date): Promise<AttestationOutcome> {
    const held = !device.revokedAt && device.tenantCertificateNotAfter != null && device.tenantCertificateNotAfter.getTime() > now.getTime();
    device.lastAttestationAt = now;
    device.lastAttestationResult = 'FAILED';
    device.lastAttestationReason = `${failure.reason}: ${failure.detail}`.slice(0, 500);
    await em.flush();
    log.warn({ deviceId: device.id, tenantId: device.tenant ?? null, reason: failure.reason, detail: failure.detail }, 'attestation refused');
    await announceFor(device, held ? 'RENEWAL_FAILED' : 'ATTESTATION_FAILED', now, { reason: failure.reason });
    return { ok: false, reason: failure.reason, message: failure.detail };
  }

  return {
    async challenge(deviceId) {
      const em = deps.em.fork();
      await requireDevice(em, deviceId);
      const now = deps.clock.now();
      await em.nativeDelete(AttestationNonce, { device: deviceId, $or: [{ expiresAt: { $lte: now } }, { usedAt: { $ne: null } }] });
      if ((await em.count(AttestationNonce, { device: deviceId })) >= MAX_OUTSTANDING_NONCES) {
        log.warn({ deviceId }, 'attestation challenge refused: too many outstanding nonces');
        return { refused: 'RATE_LIMITED' as const };
      }
      const nonce = randomBytes(32).toString('base64url');
      const expiresAt = new Date(now.getTime() + policy.nonceTtlSeconds * 1000);
      em.create(AttestationNonce, { nonce, device: deviceId, issuedAt: now, expiresAt, usedAt: null });
      await em.flush();
      return { nonce, expiresAt };
    },

    async attest(deviceId, evidence) {
      const em = deps.em.fork();
      const device = await requireDevice(em, deviceId);
      const now = deps.clock.now();
      const verdict = await verify(em, device, evidence, now);
      if ('reason' in verdict) return refuse(em, device, verdict, now);
      const tenantId = device.tenant;
      if (!tenantId) throw new Error('unreachable: verify() refuses unclaimed devices');

      const ca = activeCa(await tenantCas(em, tenantId), now);
      if (!ca) throw new Error(`tenant ${tenantId} has no active CA`);
      const issued = await deps.pki.issueDeviceCertificate({
        tenantId,
        caSerialNumber: ca.serialNumber,
        deviceId,
        csrPem: verdict.statement.csr,
        lifetimeSeconds: policy.deviceCertificateLifetimeSeconds,
      });
      const renewal = device.tenantCertificateNotAfter != null && device.tenantCertificateNotAfter.getTime() > now.getTime();
      const lifetimeMs = issued.notAfter.getTime() - issued.notBefore.getTime();
      await em.transactional(async (tem) => {
        await tem.nativeUpdate(DeviceCertificate, { device: deviceId, status: 'ACTIVE' }, { status: 'SUPERSEDED' });
        tem.create(DeviceCertificate, {
          serialNumber: issued.serialNumber,
          device: deviceId,
          tenant: tenantId,
          issuerCaSerialNumber: ca.serialNumber,
          sha256Thumbprint: issued.sha256Thumbprint,
          notBefore: issued.notBefore,
          notAfter: issued.notAfter,
          issuedAt: now,
          renewal,
          status: 'ACTIVE',
          revokedAt: null,
        });
        await tem.nativeUpdate(
          Device,
          { id: deviceId },
          {
            tenantCertificateSerialNumber: issued.serialNumber,
            tenantCertificateNotBefore: issued.notBefore,
            tenantCertificateNotAfter: issued.notAfter,
            tenantCertificateRenewAfter: new Date(issued.notBefore.getTime() + lifetimeMs * RENEW_AFTER_FRACTION),
            lastAttestationAt: now,
            lastAttestationResult: 'SUCCEEDED',
            lastAttestationReason: null,
          },
        );
      });
      log.info({ deviceId, tenantId, serialNumber: issued.serialNumber, notAfter: issued.notAfter.toISOString(), renewal }, 'device certificate issued');
      await announceFor(device, renewal ? 'RENEWED' : 'ISSUED', now, { serialNumber: issued.serialNumber, notAfter: issued.notAfter });
      return {
        ok: true,
        certificatePem: issued.certificatePem,
        chainPem: `${ca.certificatePem.trimEnd()}\n${deps.pki.rootCaPem.trimEnd()}\n`,
        serialNumber: issued.serialNumber,
        notBefore: issued.notBefore,
        notAfter: issued.notAfter,
      };
    },
  };
}
