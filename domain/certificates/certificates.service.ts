/**
 * Certificate management for tenants and the platform: revocation (with CRLs), the tenant CA lifecycle (list,
 * chain, rotation, proof of possession) and the measurements attestation accepts.
 */
import type { EntityManager } from '@mikro-orm/core';
import { Device, type DeviceEntity } from '../devices/device.entity.js';
import { toDeviceView } from '../devices/device.views.js';
import type { CertificateEventKind } from '../events/events.js';
import type { CertificatesService } from '../services.js';
import type { Actor } from '../shared/actor.js';
import { announce } from '../shared/announce.js';
import { authorizePlatform, authorizeTenant } from '../shared/authorize.js';
import { badInput, conflict, notFound, unauthenticated } from '../shared/errors.js';
import { isUuid, newId } from '../shared/ids.js';
import { isUniqueViolation } from '../shared/persistence.js';
import type { ServiceDeps } from '../shared/service-deps.js';
import { refuseNul, requireDeviceId, requireUuid } from '../shared/validation.js';
import { Tenant } from '../tenancy/tenant.entity.js';
import type { AllowedImageView, DeviceView, OsReleaseView } from '../views.js';
import { certificateChanged } from './certificate-events.js';
import { DeviceCertificate } from './device-certificate.entity.js';
import { AllowedImage, OsRelease, type AllowedImageEntity, type OsReleaseEntity } from './measurement.entities.js';
import { activeCa, tenantCaRow, tenantCas, toTenantCaView, trustedCas } from './tenant-cas.js';
import { crlIsStale, resignCrl } from './tenant-crls.js';

const REASON_MAX_LENGTH = 500;
const VERIFICATION_CODE = /^[A-Za-z0-9-]{1,64}$/;
const OS_VERSION = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

export function createCertificatesService(deps: ServiceDeps): CertificatesService {
  const log = deps.log.child({ service: 'certificates' });
  const policy = deps.certificates;

  async function ownDevice(em: EntityManager, tenantId: string, deviceId: string): Promise<DeviceEntity> {
    const id = requireDeviceId('deviceId', deviceId);
    const device = await em.findOne(Device, { id, tenant: tenantId });
    if (!device) throw notFound('Device', id);
    return device;
  }

  const announceFor = (device: DeviceEntity, kind: CertificateEventKind, at: Date, reason: string | null) =>
    announce(deps.bus, log, certificateChanged(device, kind, at, { reason }));

  async function tenantName(em: EntityManager, tenantId: string): Promise<string> {
    const tenant = await em.findOne(Tenant, { id: tenantId }, { fields: ['name'] });
    if (!tenant) throw notFound('Tenant', tenantId);
    return tenant.name;
  }

  const toAllowedImageView = (row: AllowedImageEntity): AllowedImageView => ({
    componentId: row.componentId,
    imageId: row.imageId,
    sha256: row.sha256,
    createdAt: row.createdAt,
  });
  const toOsReleaseView = (row: OsReleaseEntity): OsReleaseView => ({ version: row.version, registeredAt: row.registeredAt });

  return {
    async revokeDevice(actor, deviceId, reason): Promise<DeviceView> {
      const user = authorizeTenant(actor, 'device.revoke');
      const why = typeof reason === 'string' ? reason.trim() : '';
      if (why.length < 1 || why.length > REASON_MAX_LENGTH) throw badInput('reason', `must be 1..${REASON_MAX_LENGTH} characters`);
      refuseNul('reason', why);
      const em = deps.em.fork();
      const device = await ownDevice(em, user.tenantId, deviceId);
      const now = deps.clock.now();
      if (device.revokedAt) return toDeviceView(device, now);

      await em.transactional(async (tem) => {
        await tem.nativeUpdate(Device, { id: device.id }, { revokedAt: now, revocationReason: why });
        await tem.nativeUpdate(DeviceCertificate, { device: device.id, status: { $ne: 'REVOKED' } }, { status: 'REVOKED', revokedAt: now });
      });
      device.revokedAt = now;
      device.revocationReason = why;
      // Every CA that may have issued to it lists it now (and only unexpired CAs are trusted by anyone).
      for (const ca of trustedCas(await tenantCas(em, user.tenantId), now)) await resignCrl(em, deps.pki, ca, now);
      await em.flush();
      log.warn({ tenantId: user.tenantId, deviceId: device.id, apiKeyId: user.apiKeyId, reason: why }, 'device revoked');
      await announceFor(device, 'REVOKED', now, why);
      return toDeviceView(device, now);
    },

    async restoreDevice(actor, deviceId): Promise<DeviceView> {
      const user = authorizeTenant(actor, 'device.revoke');
      const em = deps.em.fork();
      const device = await ownDevice(em, user.tenantId, deviceId);
      const now = deps.clock.now();
      if (!device.revokedAt) return toDeviceView(device, now);
      // Its certificates stay revoked: it attests again for a new one, so health starts over at NEVER_ISSUED.
      Object.assign(device, {
        revokedAt: null,
        revocationReason: null,
        tenantCertificateSerialNumber: null,
        tenantCertificateNotBefore: null,
        tenantCertificateNotAfter: null,
        tenantCertificateRenewAfter: null,
      });
      await em.flush();
      log.info({ tenantId: user.tenantId, deviceId: device.id, apiKeyId: user.apiKeyId }, 'device restored');
      await announceFor(device, 'RESTORED', now, null);
      return toDeviceView(device, now);
    },

    async listTenantCas(actor) {
      const user = authorizeTenant(actor, 'tenant.read');
      const now = deps.clock.now();
      const cas = await tenantCas(deps.em.fork(), user.tenantId);
      const active = activeCa(cas, now);
      return cas.map((ca) => toTenantCaView(ca, active, now));
    },

    async caCertificateChain(actor) {
      const user = authorizeTenant(actor, 'tenant.read');
      const cas = trustedCas(await tenantCas(deps.em.fork(), user.tenantId), deps.clock.now());
      return [...cas.map((ca) => ca.certificatePem), deps.pki.rootCaPem].map((pem) => `${pem.trimEnd()}\n`).join('');
    },

    async rotateTenantCa(actor) {
      const user = authorizeTenant(actor, 'ca.manage');
      const em = deps.em.fork();
      const now = deps.clock.now();
      const [newest] = await tenantCas(em, user.tenantId);
      const facts = await deps.pki.createSuccessorTenantCa(user.tenantId, await tenantName(em, user.tenantId));
      const row = tenantCaRow(em, user.tenantId, facts, now, now, newest?.serialNumber ?? null);
      try {
        await em.flush();
      } catch (e) {
        // Another rotation of the same CA won the race; this CA's key stays unused in the key store.
        if (isUniqueViolation(e)) throw conflict('The tenant CA is being rotated by another request; list the CAs and retry if needed');
        throw e;
      }
      log.info({ tenantId: user.tenantId, serialNumber: facts.serialNumber, apiKeyId: user.apiKeyId }, 'tenant CA rotated');
      return toTenantCaView(row, row, now);
    },

    async proofOfPossessionCertificate(actor, verificationCode) {
      const user = authorizeTenant(actor, 'tenant.read');
      if (typeof verificationCode !== 'string' || !VERIFICATION_CODE.test(verificationCode)) {
        throw badInput('verificationCode', 'must be 1..64 letters, digits or "-"');
      }
      const ca = activeCa(await tenantCas(deps.em.fork(), user.tenantId), deps.clock.now());
      if (!ca) throw notFound('TenantCa', user.tenantId);
      const pop = await deps.pki.issueProofOfPossession({ tenantId: user.tenantId, caSerialNumber: ca.serialNumber, verificationCode });
      return pop.certificatePem;
    },

    async crls(tenantId) {
      if (typeof tenantId !== 'string' || !isUuid(tenantId.toLowerCase())) throw notFound('Tenant', String(tenantId).slice(0, 64));
      const em = deps.em.fork();
      const now = deps.clock.now();
      const cas = trustedCas(await tenantCas(em, tenantId.toLowerCase()), now);
      if (cas.length === 0) throw notFound('Tenant', tenantId);
      for (const ca of cas) if (crlIsStale(ca, now)) await resignCrl(em, deps.pki, ca, now);
      await em.flush();
      // The root's CRL last: a relying party that checks every CA of the chain finds one for each.
      return [...cas.map((ca) => ca.crlPem ?? ''), await deps.pki.rootCrl()].map((pem) => `${pem.trimEnd()}\n`).join('');
    },

    async allowImage(actor, input) {
      const user = authorizeTenant(actor, 'image.allow');
      const componentId = requireUuid('componentId', input.componentId);
      const imageId = requireUuid('imageId', input.imageId);
      if (typeof input.sha256 !== 'string' || !SHA256_HEX.test(input.sha256)) throw badInput('sha256', 'must be 64 hexadecimal characters');
      const sha256 = input.sha256.toUpperCase();
      const em = deps.em.fork();
      const existing = await em.findOne(AllowedImage, { tenant: user.tenantId, imageId, sha256 });
      if (existing) return toAllowedImageView(existing);
      const row = em.create(AllowedImage, { id: newId(), tenant: user.tenantId, componentId, imageId, sha256, createdAt: deps.clock.now() });
      try {
        await em.flush();
      } catch (e) {
        if (!isUniqueViolation(e)) throw e;
        const raced = await deps.em.fork().findOneOrFail(AllowedImage, { tenant: user.tenantId, imageId, sha256 });
        return toAllowedImageView(raced);
      }
      log.info({ tenantId: user.tenantId, imageId, sha256 }, 'image measurement allowed');
      return toAllowedImageView(row);
    },

    async listAllowedImages(actor) {
      const user = authorizeTenant(actor, 'tenant.read');
      const rows = await deps.em.fork().find(AllowedImage, { tenant: user.tenantId }, { orderBy: { createdAt: 'asc', id: 'asc' } });
      return rows.map(toAllowedImageView);
    },

    async registerOsRelease(actor, version) {
      authorizePlatform(actor, 'os.register');
      if (typeof version !== 'string' || !OS_VERSION.test(version)) throw badInput('version', 'must be 1..64 letters, digits, ".", "_" or "-"');
      const em = deps.em.fork();
      const existing = await em.findOne(OsRelease, { version });
      if (existing) return toOsReleaseView(existing);
      const row = em.create(OsRelease, { version, registeredAt: deps.clock.now() });
      try {
        await em.flush();
      } catch (e) {
        if (!isUniqueViolation(e)) throw e;
        return toOsReleaseView(await deps.em.fork().findOneOrFail(OsRelease, { version }));
      }
      log.info({ version }, 'OS release registered');
      return toOsReleaseView(row);
    },

    async listOsReleases(actor: Actor | null) {
      if (!actor) throw unauthenticated();
      const rows = await deps.em.fork().find(OsRelease, {}, { orderBy: { registeredAt: 'asc', version: 'asc' } });
      return rows.map(toOsReleaseView);
    },

    async rotateDueCas(actor) {
      authorizePlatform(actor, 'ca.sweep');
      const em = deps.em.fork();
      const now = deps.clock.now();
      const leadMs = policy.caRotationLeadSeconds * 1000;
      let created = 0;
      const tenants = await em.find(Tenant, {}, { fields: ['id', 'name'], orderBy: { id: 'asc' } });
      for (const tenant of tenants) {
        const cas = await tenantCas(em, tenant.id);
        const newest = cas[0];
        // A successor exists once the newest CA is not the active one (it waits for its activeFrom).
        if (!newest || newest !== activeCa(cas, now) || newest.notAfter.getTime() - now.getTime() > leadMs) continue;
        const facts = await deps.pki.createSuccessorTenantCa(tenant.id, tenant.name);
        const activeFrom = new Date(Math.min(now.getTime() + policy.caActivationDelaySeconds * 1000, newest.notAfter.getTime()));
        // Its own unit of work: losing the race to another node (unique successorOf) skips this tenant only.
        const tem = deps.em.fork();
        tenantCaRow(tem, tenant.id, facts, activeFrom, now, newest.serialNumber);
        try {
          await tem.flush();
        } catch (e) {
          if (!isUniqueViolation(e)) throw e;
          log.info({ tenantId: tenant.id }, 'another node made the successor tenant CA');
          continue;
        }
        created++;
        log.info({ tenantId: tenant.id, serialNumber: facts.serialNumber, activeFrom: activeFrom.toISOString() }, 'successor tenant CA created');
      }
      return { created };
    },
  };
}
