/**
 * What the broker tells the domain about device connections. Order matters here: a device may reconnect (on
 * this or another broker node) before its old connection's disconnect is processed. Each connection gets the
 * next `connectionSeq`, and a disconnect only counts when it carries the current one. Every state change is
 * persisted first and announced after, and only real transitions are announced.
 */
import { raw, type EntityManager } from '@mikro-orm/core';
import type { PresenceService } from '../services.js';
import { announce } from '../shared/announce.js';
import { notFound } from '../shared/errors.js';
import type { ServiceDeps } from '../shared/service-deps.js';
import { normalizeDeviceId } from '../shared/validation.js';
import type { Admission, ConnectionInfo, DeviceStatusReport } from '../views.js';
import { DeviceCertificate } from '../certificates/device-certificate.entity.js';
import { Device, type DeviceEntity } from './device.entity.js';

const RESET_BATCH = 500;

type Announced = Pick<DeviceEntity, 'id' | 'tenant' | 'product' | 'deviceGroup'>;

export function createPresenceService(deps: ServiceDeps): PresenceService {
  const log = deps.log.child({ service: 'presence' });

  const statusChanged = (d: Announced, online: boolean, connectionSeq: number, at: Date) =>
    announce(deps.bus, log, {
      type: 'DeviceStatusChanged',
      tenantId: d.tenant ?? null,
      deviceId: d.id,
      online,
      connectionSeq,
      at: at.toISOString(),
      productId: d.product ?? null,
      deviceGroupId: d.deviceGroup ?? null,
    });

  /** Marks one connection offline if it is still the current one; true when this call made the transition. */
  async function markOffline(em: EntityManager, deviceId: string, connectionSeq: number, extra: { brokerNodeId?: string }, now: Date) {
    const changed = await em.nativeUpdate(
      Device,
      { id: deviceId, connectionSeq, online: true, ...extra },
      { online: false, connectedSince: null, lastSeenAt: now },
    );
    return changed === 1;
  }

  return {
    async admit(deviceId: string, certificateSha256: string): Promise<Admission> {
      const id = normalizeDeviceId(deviceId);
      if (!id) return { admitted: false, reason: 'UNREGISTERED' };
      const device = await deps.em.fork().findOne(Device, { id }, { fields: ['id', 'tenant', 'revokedAt', 'certificateSha256'] });
      if (!device) return { admitted: false, reason: 'UNREGISTERED' };
      if (device.revokedAt) return { admitted: false, reason: 'REVOKED' };
      // Only certificates the service issued are accepted: the identity certificate made at manufacture, or an
      // unexpired, unrevoked certificate its tenant CA issued after an attestation. Another certificate for the
      // same device (say, from a compromised CA) is refused even if it verifies.
      const thumbprint = certificateSha256.toUpperCase();
      if (device.certificateSha256 === thumbprint) return { admitted: true, tenantId: device.tenant ?? null };
      const issued = await deps.em.fork().count(DeviceCertificate, {
        sha256Thumbprint: thumbprint,
        device: id,
        status: { $in: ['ACTIVE', 'SUPERSEDED'] },
        notAfter: { $gt: deps.clock.now() },
      });
      if (issued === 0) return { admitted: false, reason: 'CERTIFICATE_MISMATCH' };
      return { admitted: true, tenantId: device.tenant ?? null };
    },

    async connected(deviceId: string, info: ConnectionInfo): Promise<{ connectionSeq: number }> {
      const now = deps.clock.now();
      const device = await deps.em.fork().transactional(async (tem) => {
        // Incremented by the database, not read-modify-write: two nodes connecting the same device at once still
        // get distinct sequence numbers, and the row lock orders them.
        const changed = await tem.nativeUpdate(
          Device,
          { id: deviceId },
          {
            connectionSeq: raw('connection_seq + 1'),
            online: true,
            connectedSince: now,
            lastSeenAt: now,
            remoteAddress: info.remoteAddress,
            brokerNodeId: info.brokerNodeId,
          },
        );
        if (changed !== 1) throw notFound('Device', deviceId);
        return tem.findOneOrFail(
          Device,
          { id: deviceId },
          { fields: ['id', 'tenant', 'product', 'deviceGroup', 'connectionSeq'], disableIdentityMap: true },
        );
      });
      await statusChanged(device, true, device.connectionSeq, now);
      return { connectionSeq: device.connectionSeq };
    },

    async disconnected(deviceId: string, connectionSeq: number): Promise<void> {
      const now = deps.clock.now();
      const em = deps.em.fork();
      if (!(await markOffline(em, deviceId, connectionSeq, {}, now))) return;
      const device = await em.findOne(Device, { id: deviceId }, { fields: ['id', 'tenant', 'product', 'deviceGroup'] });
      if (device) await statusChanged(device, false, connectionSeq, now);
    },

    async reportStatus(deviceId: string, report: DeviceStatusReport): Promise<void> {
      const now = deps.clock.now();
      const changed = await deps.em.fork().nativeUpdate(
        Device,
        { id: deviceId },
        {
          osVersion: report.osVersion,
          uptimeSeconds: report.uptimeSeconds,
          installedImages: report.installedImages.map((i) => ({
            componentId: i.componentId,
            imageId: i.imageId,
            name: i.name ?? null,
            version: i.version ?? null,
          })),
          statusReportedAt: now,
          lastSeenAt: now,
        },
      );
      if (changed !== 1) throw notFound('Device', deviceId);
    },

    async touch(deviceIds: readonly string[]): Promise<void> {
      if (deviceIds.length === 0) return;
      await deps.em.fork().nativeUpdate(Device, { id: { $in: [...deviceIds] } }, { lastSeenAt: deps.clock.now() });
    },

    async resetNode(brokerNodeId: string): Promise<number> {
      const now = deps.clock.now();
      const em = deps.em.fork();
      let count = 0;
      let after = '';
      // Keyset pages, so a node that held many devices is reset in bounded memory.
      for (;;) {
        const batch = await em.find(
          Device,
          { brokerNodeId, online: true, id: { $gt: after } },
          { fields: ['id', 'tenant', 'product', 'deviceGroup', 'connectionSeq'], orderBy: { id: 'asc' }, limit: RESET_BATCH, disableIdentityMap: true },
        );
        for (const d of batch) {
          // Conditional on the sequence and node: a device that meanwhile connected elsewhere stays online.
          if (await markOffline(em, d.id, d.connectionSeq, { brokerNodeId }, now)) {
            count++;
            await statusChanged(d, false, d.connectionSeq, now);
          }
        }
        const last = batch.at(-1);
        if (!last || batch.length < RESET_BATCH) break;
        after = last.id;
      }
      if (count > 0) log.info({ brokerNodeId, devices: count }, 'devices of a restarted broker node marked offline');
      return count;
    },
  };
}
