/**
 * What the broker tells the domain about device connections. Order matters here: a device may reconnect (on
 * this or another broker node) before its old connection's disconnect is processed. Each connection gets the
 * next `connectionSeq`, and a disconnect only counts when it carries the current one. Every state change is
 * persisted first and announced after, and only real transitions are announced.
 */
import type { EntityManager } from '@mikro-orm/core';
import type { PresenceService } from '../services.js';
import { announce } from '../shared/announce.js';
import { notFound } from '../shared/errors.js';
import { GroupCommit } from '../shared/group-commit.js';
import { chunks, executeTogether, placeholders, type SqlStatement } from '../shared/persistence.js';
import type { ServiceDeps } from '../shared/service-deps.js';
import { normalizeDeviceId } from '../shared/validation.js';
import type { Admission, ConnectionInfo, DeviceStatusReport } from '../views.js';
import { Device, type DeviceEntity } from './device.entity.js';

const RESET_BATCH = 500;
/** Most connections (or disconnections) recorded in one statement, and most ids in one `IN (...)` list. */
const PRESENCE_BATCH = 500;
/**
 * While presence writes keep coming, how long a connection or disconnection waits for others to share its
 * transaction (a lone one is written at once): on SQLite every commit is an fsync that blocks the process, and
 * every transaction costs the ORM a few statements' worth of CPU, so a storm written one by one stalls the node.
 */
const PRESENCE_WINDOW_MS = 50;

/** The admission read: by the device table's primary key, nothing else (column names as in the migrations). */
const admissionSql = (ids: number): string =>
  `select id, tenant_id, revoked_at, certificate_sha256 from device where id in (${placeholders(ids)})`;
/** A tenant-issued certificate the device may connect with: this one, its own, current, not revoked. */
const issuedCertificateSql =
  "select 1 from device_certificate where sha256thumbprint = ? and device_id = ? and status in ('ACTIVE', 'SUPERSEDED') and not_after > ? limit 1";
interface AdmissionRow {
  readonly id: string;
  readonly tenant_id: string | null;
  readonly revoked_at: unknown;
  readonly certificate_sha256: string;
}

type Announced = Pick<DeviceEntity, 'id' | 'tenant' | 'product' | 'deviceGroup'>;

/** A device as the presence UPDATEs return it (column names as in the migrations). */
interface DeviceRow {
  readonly id: string;
  readonly tenant_id: string | null;
  readonly product_id: string | null;
  readonly device_group_id: string | null;
}
interface ConnectedRow extends DeviceRow {
  readonly connection_seq: number | string;
}
const announcedOf = (r: DeviceRow): Announced => ({ id: r.id, tenant: r.tenant_id, product: r.product_id, deviceGroup: r.device_group_id });

/** One node's connections (at most PRESENCE_BATCH): online, next sequence, since now, from where. */
function connectionSql(connections: readonly NewConnection[], now: Date): SqlStatement {
  const first = connections[0];
  if (!first) throw new Error('no connections');
  const marks = placeholders(connections.length);
  const ids = connections.map((c) => c.deviceId);
  const oneAddress = connections.every((c) => c.info.remoteAddress === first.info.remoteAddress);
  const address = oneAddress ? '?' : `case id ${connections.map(() => 'when ? then ?').join(' ')} end`;
  const addressParams = oneAddress ? [first.info.remoteAddress] : connections.flatMap((c) => [c.deviceId, c.info.remoteAddress]);
  return {
    sql:
      'update device set connection_seq = connection_seq + 1, online = true, connected_since = ?, last_seen_at = ?, ' +
      `broker_node_id = ?, remote_address = ${address} where id in (${marks}) ` +
      'returning id, tenant_id, product_id, device_group_id, connection_seq',
    params: [now, now, first.info.brokerNodeId, ...addressParams, ...ids],
  };
}

/** One device's status report, as queued for the next batch. */
interface StatusReport {
  readonly deviceId: string;
  readonly report: DeviceStatusReport;
}

/**
 * A batch's status reports (each device once: keyed), as few `UPDATE`s as there are distinct (OS version, installed
 * images): a fleet mostly runs the same, so most batches take one; each device's own uptime by a CASE.
 */
function statusSql(reports: readonly StatusReport[], now: Date): SqlStatement[] {
  const alike = new Map<string, { osVersion: string; installedImages: string; reports: StatusReport[] }>();
  for (const r of reports) {
    const installedImages = JSON.stringify(
      r.report.installedImages.map((i) => ({ componentId: i.componentId, imageId: i.imageId, name: i.name ?? null, version: i.version ?? null })),
    );
    const key = JSON.stringify([r.report.osVersion, installedImages]);
    const group = alike.get(key);
    if (group) group.reports.push(r);
    else alike.set(key, { osVersion: r.report.osVersion, installedImages, reports: [r] });
  }
  return [...alike.values()].flatMap(({ osVersion, installedImages, reports: same }) =>
    chunks(same, PRESENCE_BATCH).map((part) => ({
      sql:
        `update device set os_version = ?, installed_images = ?, uptime_seconds = case id ${part.map(() => 'when ? then ?').join(' ')} end, ` +
        `status_reported_at = ?, last_seen_at = ? where id in (${placeholders(part.length)}) returning id`,
      params: [osVersion, installedImages, ...part.flatMap((r) => [r.deviceId, r.report.uptimeSeconds]), now, now, ...part.map((r) => r.deviceId)],
    })),
  );
}

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
   * Records a burst of connections: per broker node one `UPDATE ... RETURNING` (each device's own remote address by
   * a CASE when they differ), which bumps the sequence and hands back what the announcement needs; then announces
   * each. Plain SQL: the ORM's update and find cost several times the statements themselves, once per burst. The
   * sequence is incremented by the database, not read-modify-write, so two nodes connecting the same device at once
   * still get distinct sequence numbers (the row lock orders them) and each reads back its own increment. A lone
   * statement is its own transaction; several (more than one node in a batch) share one.
   */
  async function recordConnections(batch: readonly NewConnection[]): Promise<Array<Recorded | Error>> {
    const now = deps.clock.now();
    const byNode = new Map<string, NewConnection[]>();
    for (const c of batch) {
      const same = byNode.get(c.info.brokerNodeId);
      if (same) same.push(c);
      else byNode.set(c.info.brokerNodeId, [c]);
    }
    const statements = [...byNode.values()].flatMap((connections) => chunks(connections, PRESENCE_BATCH)).map((connections) => connectionSql(connections, now));
    const rows = await executeTogether<ConnectedRow>(deps.em, statements);
    const byId = new Map(rows.map((r) => [r.id, r]));
    const results: Array<Recorded | Error> = [];
    for (const { deviceId } of batch) {
      const row = byId.get(deviceId);
      if (!row) {
        results.push(notFound('Device', deviceId));
        continue;
      }
      const connectionSeq = Number(row.connection_seq);
      await statusChanged(announcedOf(row), true, connectionSeq, now);
      results.push({ connectionSeq });
    }
    return results;
  }

  /**
   * Records a burst of disconnections in one `UPDATE ... RETURNING`, each only if it still is the device's current
   * connection (its sequence, by a CASE: a batch names each device once), then announces those that made the
   * transition (the rows returned). PostgreSQL walks an `id IN (...)` list in index order, so two nodes' batches
   * lock rows in the same order; a batch that does deadlock with something else is retried one by one.
   */
  async function recordDisconnections(batch: readonly EndedConnection[]): Promise<boolean[]> {
    const now = deps.clock.now();
    const marks = placeholders(batch.length);
    const sql =
      'update device set online = false, connected_since = null, last_seen_at = ? ' +
      `where id in (${marks}) and online = true and connection_seq = case id ${batch.map(() => 'when ? then ?').join(' ')} end ` +
      'returning id, tenant_id, product_id, device_group_id';
    const params = [now, ...batch.map((d) => d.deviceId), ...batch.flatMap((d) => [d.deviceId, d.connectionSeq])];
    const rows: DeviceRow[] = await deps.em.getConnection().execute(sql, params, 'all');
    const byId = new Map(rows.map((r) => [r.id, r]));
    const changed: boolean[] = [];
    for (const d of batch) {
      const row = byId.get(d.deviceId);
      changed.push(row !== undefined);
      if (row) await statusChanged(announcedOf(row), false, d.connectionSeq, now);
    }
    return changed;
  }

  /**
   * Stores a batch of status reports (GroupCommit: each acknowledged after it) in one transaction: one commit (an
   * fsync on SQLite) per batch rather than per device, in plain SQL like the connection records. A device not found
   * is refused alone.
   */
  async function recordStatuses(batch: readonly StatusReport[]): Promise<Array<true | Error>> {
    const rows = await executeTogether<{ id: string }>(deps.em, statusSql(batch, deps.clock.now()));
    const stored = new Set(rows.map((r) => r.id));
    return batch.map(({ deviceId }) => (stored.has(deviceId) ? true : notFound('Device', deviceId)));
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
  // Every device reports its status after connecting and after each update it installs: a fleet's reports share
  // transactions too. Keyed: a batch names each device once (its CASE). No window: the deployment progress that
  // follows a status report is announced per batch, and a window would merge a fleet's steps into one jump.
  const statuses = new GroupCommit<StatusReport, true>(oneByOne(recordStatuses), { maxBatch: PRESENCE_BATCH, keyOf: (r) => r.deviceId });

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
      const issued: unknown[] = await deps.em.getConnection().execute(issuedCertificateSql, [thumbprint, id, deps.clock.now()], 'all');
      if (issued.length === 0) return { admitted: false, reason: 'CERTIFICATE_MISMATCH' };
      return { admitted: true, tenantId };
    },

    connected(deviceId: string, info: ConnectionInfo): Promise<{ connectionSeq: number }> {
      return connections.submit({ deviceId, info });
    },

    async disconnected(deviceId: string, connectionSeq: number): Promise<void> {
      await disconnections.submit({ deviceId, connectionSeq });
    },

    async reportStatus(deviceId: string, report: DeviceStatusReport): Promise<void> {
      await statuses.submit({ deviceId, report });
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
