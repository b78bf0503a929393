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
import { GroupCommit } from '../shared/group-commit.js';
import { chunks } from '../shared/persistence.js';
import type { ServiceDeps } from '../shared/service-deps.js';
import { normalizeDeviceId } from '../shared/validation.js';
import type { Admission, ConnectionInfo, DeviceStatusReport } from '../views.js';
import { DeviceCertificate } from '../certificates/device-certificate.entity.js';
import { Device, type DeviceEntity } from './device.entity.js';

const RESET_BATCH = 500;
/** Most connections (or disconnections) recorded in one transaction, and most ids in one `IN (...)` list. */
const PRESENCE_BATCH = 500;
/**
 * While presence writes keep coming, how long a connection or disconnection waits for others to share its
 * transaction (a lone one is written at once): on SQLite every commit is an fsync that blocks the process, and
 * every transaction costs the ORM a few statements' worth of CPU, so a storm written one by one stalls the node.
 */
const PRESENCE_WINDOW_MS = 50;

/** The admission read: by the device table's primary key, nothing else (column names as in the migrations). */
const admissionSql = (ids: number): string =>
  `select id, tenant_id, revoked_at, certificate_sha256 from device where id in (${Array.from({ length: ids }, () => '?').join(', ')})`;
interface AdmissionRow {
  readonly id: string;
  readonly tenant_id: string | null;
  readonly revoked_at: unknown;
  readonly certificate_sha256: string;
}

type Announced = Pick<DeviceEntity, 'id' | 'tenant' | 'product' | 'deviceGroup'>;

interface NewConnection {
  readonly deviceId: string;
  readonly info: ConnectionInfo;
}
type Recorded = { connectionSeq: number };
interface EndedConnection {
  readonly deviceId: string;
  readonly connectionSeq: number;
}

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

  /**
   * Records a burst of connections in one transaction: one UPDATE per origin (remote address and node), one SELECT
   * for the new sequence numbers; then announces each. The sequence is incremented by the database, not
   * read-modify-write: two nodes connecting the same device at once still get distinct sequence numbers, and the
   * row lock orders them (the SELECT, in the same transaction, reads this transaction's own increment).
   */
  async function recordConnections(batch: readonly NewConnection[]): Promise<Array<Recorded | Error>> {
    const now = deps.clock.now();
    const origins = new Map<string, { info: ConnectionInfo; deviceIds: string[] }>();
    for (const c of batch) {
      const key = JSON.stringify([c.info.remoteAddress, c.info.brokerNodeId]);
      const origin = origins.get(key) ?? { info: c.info, deviceIds: [] };
      origin.deviceIds.push(c.deviceId);
      origins.set(key, origin);
    }
    const rows = await deps.em.fork().transactional(async (tem) => {
      for (const { info, deviceIds } of origins.values()) {
        for (const ids of chunks(deviceIds, PRESENCE_BATCH)) {
          await tem.nativeUpdate(
            Device,
            { id: { $in: ids } },
            {
              connectionSeq: raw('connection_seq + 1'),
              online: true,
              connectedSince: now,
              lastSeenAt: now,
              remoteAddress: info.remoteAddress,
              brokerNodeId: info.brokerNodeId,
            },
          );
        }
      }
      const found: Array<Announced & Pick<DeviceEntity, 'connectionSeq'>> = [];
      for (const ids of chunks(batch.map((c) => c.deviceId), PRESENCE_BATCH)) {
        found.push(
          ...(await tem.find(
            Device,
            { id: { $in: ids } },
            { fields: ['id', 'tenant', 'product', 'deviceGroup', 'connectionSeq'], disableIdentityMap: true },
          )),
        );
      }
      return found;
    });
    const byId = new Map(rows.map((d) => [d.id, d]));
    const results: Array<Recorded | Error> = [];
    for (const { deviceId } of batch) {
      const device = byId.get(deviceId);
      if (!device) {
        results.push(notFound('Device', deviceId));
        continue;
      }
      await statusChanged(device, true, device.connectionSeq, now);
      results.push({ connectionSeq: device.connectionSeq });
    }
    return results;
  }

  /**
   * Records a burst of disconnections in one transaction, each only if it still is the device's current connection,
   * then announces those that made the transition.
   */
  async function recordDisconnections(batch: readonly EndedConnection[]): Promise<boolean[]> {
    const now = deps.clock.now();
    const em = deps.em.fork();
    const changed = await em.transactional(async (tem) => {
      const out: boolean[] = new Array<boolean>(batch.length).fill(false);
      // Rows are locked in one fixed (id) order, so two nodes' disconnection batches on PostgreSQL wait for each
      // other rather than deadlock; a batch that does deadlock with something else is retried one by one.
      const byIdOrder = batch.map((d, i) => ({ d, i })).sort((a, b) => (a.d.deviceId < b.d.deviceId ? -1 : a.d.deviceId > b.d.deviceId ? 1 : 0));
      for (const { d, i } of byIdOrder) out[i] = await markOffline(tem, d.deviceId, d.connectionSeq, {}, now);
      return out;
    });
    const wentOffline = batch.filter((_, i) => changed[i]);
    const rows: Announced[] = [];
    for (const ids of chunks(wentOffline.map((d) => d.deviceId), PRESENCE_BATCH)) {
      rows.push(...(await em.find(Device, { id: { $in: ids } }, { fields: ['id', 'tenant', 'product', 'deviceGroup'], disableIdentityMap: true })));
    }
    const byId = new Map(rows.map((d) => [d.id, d]));
    for (const d of wentOffline) {
      const device = byId.get(d.deviceId);
      if (device) await statusChanged(device, false, d.connectionSeq, now);
    }
    return changed;
  }

  // A storm of connections costs a few statements per burst instead of a transaction each. A batch whose
  // transaction fails (say, a deadlock with another node) is retried one item at a time, so one device's trouble
  // is not every device's.
  const oneByOne = <I, O>(record: (batch: readonly I[]) => Promise<ReadonlyArray<O | Error>>) =>
    async (batch: readonly I[]): Promise<ReadonlyArray<O | Error>> => {
      try {
        return await record(batch);
      } catch (error) {
        if (batch.length === 1) throw error;
        const results: Array<O | Error> = [];
        for (const item of batch) {
          const [one] = await record([item]).catch((e: unknown) => [e instanceof Error ? e : new Error(String(e))]);
          results.push(one ?? new Error('not recorded'));
        }
        return results;
      }
    };
  // Every device connection asks for its admission row: a primary-key read in plain SQL (the ORM's find costs about
  // ten times the query itself), and the connections of one I/O turn share one `IN (...)` read. No window: the
  // CONNACK waits for this.
  const admissionReads = new GroupCommit<string, AdmissionRow | null>(
    async (ids) => {
      const rows: AdmissionRow[] = [];
      for (const chunk of chunks(ids, PRESENCE_BATCH)) rows.push(...(await deps.em.getConnection().execute<AdmissionRow[]>(admissionSql(chunk.length), chunk, 'all')));
      const byId = new Map(rows.map((r) => [r.id, r]));
      return ids.map((id) => byId.get(id) ?? null);
    },
    { maxBatch: PRESENCE_BATCH },
  );
  const connections = new GroupCommit<NewConnection, Recorded>(oneByOne(recordConnections), { maxBatch: PRESENCE_BATCH, windowMs: PRESENCE_WINDOW_MS, keyOf: (c) => c.deviceId });
  const disconnections = new GroupCommit<EndedConnection, boolean>(oneByOne(recordDisconnections), { maxBatch: PRESENCE_BATCH, windowMs: PRESENCE_WINDOW_MS, keyOf: (d) => d.deviceId });

  return {
    async admit(deviceId: string, certificateSha256: string): Promise<Admission> {
      const id = normalizeDeviceId(deviceId);
      if (!id) return { admitted: false, reason: 'UNREGISTERED' };
      const device = await admissionReads.submit(id);
      if (!device) return { admitted: false, reason: 'UNREGISTERED' };
      if (device.revoked_at !== null && device.revoked_at !== undefined) return { admitted: false, reason: 'REVOKED' };
      const tenantId = device.tenant_id ?? null;
      // Only certificates the service issued are accepted: the identity certificate made at manufacture, or an
      // unexpired, unrevoked certificate its tenant CA issued after an attestation. Another certificate for the
      // same device (say, from a compromised CA) is refused even if it verifies.
      const thumbprint = certificateSha256.toUpperCase();
      if (device.certificate_sha256 === thumbprint) return { admitted: true, tenantId };
      const issued = await deps.em.fork().count(DeviceCertificate, {
        sha256Thumbprint: thumbprint,
        device: id,
        status: { $in: ['ACTIVE', 'SUPERSEDED'] },
        notAfter: { $gt: deps.clock.now() },
      });
      if (issued === 0) return { admitted: false, reason: 'CERTIFICATE_MISMATCH' };
      return { admitted: true, tenantId };
    },

    connected(deviceId: string, info: ConnectionInfo): Promise<{ connectionSeq: number }> {
      return connections.submit({ deviceId, info });
    },

    async disconnected(deviceId: string, connectionSeq: number): Promise<void> {
      await disconnections.submit({ deviceId, connectionSeq });
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
