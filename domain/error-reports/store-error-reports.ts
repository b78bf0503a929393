/**
 * The write path of error reports, called by the broker inside the hook that runs before PUBACK: an event is
 * acknowledged only once it is stored. Batches from many devices are stored together (group commit: see
 * shared/group-commit.ts), in one transaction per flush and a handful of set-wise statements whatever its size. Per
 * batch, in arrival order: refuse events that make no sense for this device, drop the ones stored before (a resend
 * after a lost PUBACK, also within the flush), keep within the device's hourly limit (counting the excess in one
 * row), store the rest and fold the unplanned ones into issues. Announced, then answered, after COMMIT. A failed
 * flush acknowledges nothing: its batches are tried again one by one, and one that still fails is answered with
 * the failure (no PUBACK: its device sends it again, and the duplicate check makes that safe).
 */
import { ConnectionException, raw, type EntityManager } from '@mikro-orm/core';
import { Device, type DeviceEntity } from '../devices/device.entity.js';
import type { ErrorReported } from '../events/events.js';
import { announce } from '../shared/announce.js';
import { forbidden, notFound } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { chunks, isUniqueViolation, placeholders } from '../shared/persistence.js';
import type { ErrorReportPolicy, ServiceDeps } from '../shared/service-deps.js';
import type { ErrorEventInput, ErrorIngestResult, ErrorReportBatch, InstalledImageView } from '../views.js';
import { CATEGORY_KINDS, describeEvent, hourBucketOf, signatureFields, signatureOf } from './error-categories.js';
import { ErrorReportDrop, type DropReason } from './error-report.entities.js';
import { FORMER_IMAGE, checkEvent, imageRefusal } from './event-checks.js';
import { GroupCommit } from '../shared/group-commit.js';
import { createHourlyUsage } from './hourly-usage.js';
import { foldIntoIssues, issueKey, type IssueEvent, type OpenedIssue } from './issue-folding.js';
import { newReportId } from './report-ids.js';

/** A unique violation means another node stored the same thing at the same moment: retry the flush afresh. */
const CONFLICT_RETRIES = 3;
/** Batches in one flush (a batch is at most a few hundred events; see MAX_ERROR_REPORTS_BYTES). */
const MAX_FLUSH_BATCHES = 256;
/** Flushes in flight at once on PostgreSQL, for disjoint sets of devices (see the lanes below). */
const POSTGRES_LANES = 2;
/** Rows or IDs per statement, well under both drivers' parameter limits. */
const CHUNK = 200;
/** Event IDs per duplicate lookup (a full flush's in one), under both drivers' parameter limits. */
const REPORT_CHUNK = 5000;
/** Reports per insert statement. */
const INSERT_CHUNK = 2000;

/**
 * error_report's columns (the entity: error-report.entities.ts) with their PostgreSQL types, in the order of a row
 * given to insertReports.
 */
const REPORT_COLUMNS = [
  ['id', 'uuid'],
  ['tenant_id', 'uuid'],
  ['device_id', 'text'],
  ['event_id', 'uuid'],
  ['event_type', 'text'],
  ['event_class', 'text'],
  ['category', 'text'],
  ['count', 'int'],
  ['description', 'text'],
  ['exit_code', 'int'],
  ['signal', 'int'],
  ['component_id', 'uuid'],
  ['image_id', 'uuid'],
  ['start_time', 'timestamptz'],
  ['end_time', 'timestamptz'],
  ['hour_bucket', 'int'],
  ['received_at', 'timestamptz'],
  ['product_id', 'uuid'],
  ['device_group_id', 'uuid'],
  ['issue_id', 'uuid'],
] as const;
/** One report's values, in REPORT_COLUMNS order. */
type ReportRow = readonly unknown[];
const INSERT_INTO = `insert into error_report (${REPORT_COLUMNS.map(([c]) => c).join(', ')})`;
const FROM_JSON = `select ${REPORT_COLUMNS.map(([, type], i) => `cast(r.v ->> ${i} as ${type})`).join(', ')} from jsonb_array_elements`;

/**
 * A flush's reports take one statement, its values written into the SQL text here: MikroORM writes every parameter
 * into the text anyway, through a quoting path whose per-value cost (and pg's escapeLiteral, which copies a string a
 * character at a time) outweighs storing the rows. SQLite gets a multi-row VALUES list (its JSON functions unpack
 * rows slower than it parses literals); PostgreSQL one JSON array of rows (jsonb: parsed once, not per column),
 * unpacked and cast by the server.
 */
function insertSql(dialect: 'sqlite' | 'postgresql', rows: readonly ReportRow[]): string {
  if (dialect === 'sqlite') return `${INSERT_INTO} values ${rows.map((r) => `(${r.map(sqliteLiteral).join(', ')})`).join(', ')}`;
  return `${INSERT_INTO} ${FROM_JSON}(cast(${postgresLiteral(JSON.stringify(rows))} as jsonb)) as r(v)`;
}

/** In an SQLite string literal only `'` is special (as MikroORM's own quoting for SQLite has it). */
function sqliteLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'string') return `'${value.replaceAll("'", "''")}'`;
  throw new TypeError(`no SQL literal for a ${typeof value}`);
}

/** PostgreSQL's E'' literal: `'` and `\` doubled, its meaning whatever standard_conforming_strings says. */
const postgresLiteral = (text: string): string => `E'${text.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;

/** Which of the two SQL dialects (domain code sees MikroORM's platform, not the driver). */
const dialectOf = (em: EntityManager): 'sqlite' | 'postgresql' => (/postgre/i.test(em.getPlatform().constructor.name) ? 'postgresql' : 'sqlite');

type DeviceRow = Pick<DeviceEntity, 'id' | 'tenant' | 'product' | 'deviceGroup' | 'installedImages' | 'errorEventsDroppedTotal'>;
type ClaimedDevice = DeviceRow & { readonly tenant: string };

interface Queued {
  readonly deviceId: string;
  readonly batch: ErrorReportBatch;
}

/** One batch's fate within a flush: a domain refusal of the whole batch (unknown or unclaimed device) or its result. */
type Outcome = { readonly error: Error } | { readonly result: ErrorIngestResult };

interface Flushed {
  readonly now: Date;
  /** Per device with new events: its rolling-hour count as of `now`, this flush included. */
  readonly used: ReadonlyMap<string, number>;
  readonly outcomes: readonly Outcome[];
  readonly devices: ReadonlyMap<string, ClaimedDevice>;
  readonly reports: ReadonlyArray<{ readonly tenantId: string; readonly report: ErrorReported['report'] }>;
  readonly opened: readonly OpenedIssue[];
}

/** A batch's events after the checks: the valid ones (event IDs lower-cased), and those refused with why. */
interface Checked {
  readonly device: ClaimedDevice;
  readonly valid: ErrorEventInput[];
  readonly refused: Array<{ eventId: string; reason: string }>;
  fresh: ErrorEventInput[];
  accepted: ErrorEventInput[];
}

const pairKey = (deviceId: string, eventId: string): string => `${deviceId}\n${eventId}`;

export function createErrorReportWriter(deps: ServiceDeps, policy: ErrorReportPolicy) {
  const log = deps.log.child({ service: 'error-reports' });
  const hourly = createHourlyUsage();

  async function countDrop(em: EntityManager, device: ClaimedDevice, reason: DropReason, count: number, now: Date): Promise<void> {
    if (count <= 0) return;
    const hourBucket = hourBucketOf(now);
    const changed = await em.nativeUpdate(ErrorReportDrop, { device: device.id, hourBucket, reason }, { dropped: raw(`dropped + ${Math.floor(count)}`), updatedAt: now });
    if (changed === 0) await em.insert(ErrorReportDrop, { id: newId(), tenant: device.tenant, device: device.id, hourBucket, reason, dropped: count, updatedAt: now });
  }

  /** Plain SQL, like the duplicate check: the ORM's entity building cost more than the lookup itself. */
  async function loadDevices(em: EntityManager, ids: readonly string[]): Promise<Map<string, DeviceRow>> {
    const devices = new Map<string, DeviceRow>();
    for (const part of chunks(ids, CHUNK)) {
      const rows: Array<{
        id: string;
        tenant_id: string | null;
        product_id: string | null;
        device_group_id: string | null;
        /** JSON: text on SQLite, already parsed on PostgreSQL. */
        installed_images: string | InstalledImageView[] | null;
        error_events_dropped_total: number | string;
      }> = await em
        .getConnection()
        .execute(
          `select id, tenant_id, product_id, device_group_id, installed_images, error_events_dropped_total from device where id in (${placeholders(part.length)})`,
          [...part],
          'all',
          em.getTransactionContext(),
        );
      for (const r of rows) {
        devices.set(r.id, {
          id: r.id,
          tenant: r.tenant_id,
          product: r.product_id,
          deviceGroup: r.device_group_id,
          installedImages: typeof r.installed_images === 'string' ? (JSON.parse(r.installed_images) as InstalledImageView[]) : r.installed_images,
          errorEventsDroppedTotal: Number(r.error_events_dropped_total),
        });
      }
    }
    return devices;
  }

  /**
   * (device, event ID) pairs already stored, of the ones given. Plain SQL: the ORM's criteria building costs more
   * than the query itself for a few hundred pairs. Per device an IN list, so each branch is a range of the unique
   * (device, eventId) index; a flush's pairs take one statement up to REPORT_CHUNK of them.
   */
  async function storedPairs(em: EntityManager, checked: readonly Checked[]): Promise<Set<string>> {
    const wanted = new Map<string, Set<string>>();
    for (const c of checked) {
      let ids = wanted.get(c.device.id);
      if (!ids) wanted.set(c.device.id, (ids = new Set()));
      for (const e of c.valid) ids.add(e.eventId);
    }
    const stored = new Set<string>();
    let branches: string[] = [];
    let params: string[] = [];
    const lookUp = async (): Promise<void> => {
      if (branches.length === 0) return;
      const rows: Array<{ device_id: string; event_id: string }> = await em
        .getConnection()
        .execute(`select device_id, event_id from error_report where ${branches.join(' or ')}`, params, 'all', em.getTransactionContext());
      for (const r of rows) stored.add(pairKey(r.device_id, r.event_id));
      branches = [];
      params = [];
    };
    for (const [deviceId, ids] of wanted) {
      for (const part of chunks([...ids], REPORT_CHUNK)) {
        if (params.length + part.length > REPORT_CHUNK) await lookUp();
        branches.push(`(device_id = ? and event_id in (${placeholders(part.length)}))`);
        params.push(deviceId, ...part);
      }
    }
    await lookUp();
    return stored;
  }

  /** Plain SQL, the whole flush in a statement or two: the ORM's insertMany builds and validates an entity per row. */
  async function insertReports(em: EntityManager, rows: readonly ReportRow[]): Promise<void> {
    const dialect = dialectOf(em);
    for (const part of chunks(rows, INSERT_CHUNK)) await em.getConnection().execute(insertSql(dialect, part), [], 'run', em.getTransactionContext());
  }

  async function storeOnce(items: readonly Queued[]): Promise<Flushed> {
    const now = deps.clock.now();
    return deps.em.fork().transactional(async (em) => {
      const found = await loadDevices(em, [...new Set(items.map((i) => i.deviceId))]);
      const devices = new Map<string, ClaimedDevice>();
      const outcomes: Array<Outcome | Checked> = [];
      for (const { deviceId, batch } of items) {
        const device = found.get(deviceId);
        if (!device) {
          outcomes.push({ error: notFound('Device', deviceId) });
          continue;
        }
        const tenant = device.tenant;
        if (!tenant) {
          outcomes.push({ error: forbidden('The device is not claimed: error reports are kept for claimed devices only') });
          continue;
        }
        const claimed: ClaimedDevice = { ...device, tenant };
        devices.set(deviceId, claimed);
        const checked: Checked = { device: claimed, valid: [], refused: [], fresh: [], accepted: [] };
        const seenInBatch = new Set<string>();
        for (const e of batch.events) {
          const eventId = e.eventId.toLowerCase();
          if (seenInBatch.has(eventId)) continue; // the same event twice in one batch is one event
          seenInBatch.add(eventId);
          const verdict = checkEvent(policy, claimed, e, now);
          const reason = verdict === FORMER_IMAGE ? await imageRefusal(em, claimed, e) : verdict;
          if (reason) checked.refused.push({ eventId: e.eventId, reason });
          else checked.valid.push({ ...e, eventId });
        }
        outcomes.push(checked);
      }
      const checked = outcomes.filter((o): o is Checked => 'valid' in o);

      // Duplicates: stored before, or earlier in this flush (a resend queued behind the original).
      const taken = await storedPairs(em, checked);
      for (const c of checked) {
        for (const e of c.valid) {
          const key = pairKey(c.device.id, e.eventId);
          if (taken.has(key)) continue;
          taken.add(key);
          c.fresh.push(e);
        }
      }

      // The hourly limit, per device, consumed in arrival order across the flush.
      const withFresh = [...new Set(checked.filter((c) => c.fresh.length > 0).map((c) => c.device.id))];
      const used = withFresh.length > 0 ? await hourly.read(em, withFresh, now) : new Map<string, number>();
      const rateLimited = new Map<string, number>();
      for (const c of checked) {
        if (c.fresh.length === 0) continue;
        const id = c.device.id;
        const allowance = Math.max(0, policy.perDeviceHourlyLimit - (used.get(id) ?? 0));
        c.accepted = c.fresh.slice(0, allowance);
        used.set(id, (used.get(id) ?? 0) + c.accepted.length);
        const excess = c.fresh.length - c.accepted.length;
        if (excess > 0) rateLimited.set(id, (rateLimited.get(id) ?? 0) + excess);
      }

      // The device's drop counter is a running total; a smaller one means its storage was reset.
      const droppedTotal = new Map<string, number>();
      const newlyDropped = new Map<string, number>();
      items.forEach(({ deviceId, batch }, i) => {
        const device = devices.get(deviceId);
        if (!device || batch.droppedTotal === null || !('valid' in (outcomes[i] ?? {}))) return;
        const previous = droppedTotal.get(deviceId) ?? device.errorEventsDroppedTotal;
        if (batch.droppedTotal === previous) return;
        const newly = batch.droppedTotal > previous ? batch.droppedTotal - previous : batch.droppedTotal;
        newlyDropped.set(deviceId, (newlyDropped.get(deviceId) ?? 0) + newly);
        droppedTotal.set(deviceId, batch.droppedTotal);
      });
      for (const id of [...devices.keys()].sort()) {
        const device = devices.get(id);
        if (!device) continue;
        await countDrop(em, device, 'RATE_LIMITED', rateLimited.get(id) ?? 0, now);
        await countDrop(em, device, 'DEVICE_QUEUE_FULL', newlyDropped.get(id) ?? 0, now);
        const total = droppedTotal.get(id);
        if (total !== undefined) await em.nativeUpdate(Device, { id }, { errorEventsDroppedTotal: total });
      }

      // Unplanned events fold into issues, one statement set for the whole flush.
      const unplanned: IssueEvent[] = [];
      // Each event's issue key; each distinct signature hashed once.
      const keyOf = new Map<ErrorEventInput, string>();
      const signatures = new Map<string, string>();
      for (const c of checked) {
        for (const event of c.accepted) {
          if (CATEGORY_KINDS[event.category].eventType !== 'Unplanned') continue;
          const fields = signatureFields(event);
          let signature = signatures.get(fields);
          if (signature === undefined) signatures.set(fields, (signature = signatureOf(event)));
          keyOf.set(event, issueKey(c.device.tenant, signature));
          unplanned.push({ tenantId: c.device.tenant, deviceId: c.device.id, signature, event });
        }
      }
      const { issueOf, opened } = await foldIntoIssues(em, unplanned, now);

      const reports: Array<{ tenantId: string; report: ErrorReported['report'] }> = [];
      const rows: ReportRow[] = [];
      const platform = em.getPlatform();
      const receivedAt = platform.processDateProperty(now);
      const receivedIso = now.toISOString();
      for (const c of checked) {
        const { tenant, product = null, deviceGroup = null } = c.device;
        for (const e of c.accepted) {
          const kind = CATEGORY_KINDS[e.category];
          const key = keyOf.get(e);
          const report = {
            id: newReportId(now.getTime()),
            eventId: e.eventId,
            deviceId: c.device.id,
            productId: product,
            deviceGroupId: deviceGroup,
            eventType: kind.eventType,
            eventClass: kind.eventClass,
            category: e.category,
            count: e.count,
            description: describeEvent(e).slice(0, 300),
            exitCode: e.exitCode,
            signal: e.signal,
            componentId: e.componentId?.toLowerCase() ?? null,
            imageId: e.imageId?.toLowerCase() ?? null,
            startTime: e.startTime.toISOString(),
            endTime: e.endTime.toISOString(),
            receivedAt: receivedIso,
            issueId: key === undefined ? null : (issueOf.get(key) ?? null),
          };
          reports.push({ tenantId: tenant, report });
          // In REPORT_COLUMNS order; dates in each driver's own form (SQLite: epoch milliseconds; PostgreSQL: ISO).
          rows.push([
            report.id,
            tenant,
            report.deviceId,
            report.eventId,
            report.eventType,
            report.eventClass,
            report.category,
            report.count,
            report.description,
            report.exitCode,
            report.signal,
            report.componentId,
            report.imageId,
            platform.processDateProperty(e.startTime),
            platform.processDateProperty(e.endTime),
            hourBucketOf(e.startTime),
            receivedAt,
            product,
            deviceGroup,
            report.issueId,
          ]);
        }
      }
      await insertReports(em, rows);

      return {
        now,
        used,
        devices,
        reports,
        opened,
        outcomes: outcomes.map((o): Outcome =>
          'valid' in o
            ? { result: { stored: o.accepted.length, duplicates: o.valid.length - o.fresh.length, rateLimited: o.fresh.length - o.accepted.length, refused: o.refused } }
            : o,
        ),
      };
    });
  }

  async function flush(items: readonly Queued[]): Promise<Array<ErrorIngestResult | Error>> {
    let flushed: Flushed;
    for (let attempt = 1; ; attempt++) {
      try {
        flushed = await storeOnce(items);
        break;
      } catch (e) {
        if (isUniqueViolation(e) && attempt < CONFLICT_RETRIES) continue;
        // Nothing of this flush was committed. Each batch is tried once more on its own, so one the database will
        // not take fails alone (not when the database is unreachable: each would wait for it in turn); a batch that
        // fails alone is not acknowledged and its device sends it again.
        if (items.length > 1 && !(e instanceof ConnectionException)) {
          log.warn({ batches: items.length, err: e instanceof Error ? e.message : String(e) }, 'error report flush failed; storing its batches one by one');
          const results: Array<ErrorIngestResult | Error> = [];
          for (const item of items) results.push(...(await flush([item])));
          return results;
        }
        const error = e instanceof Error ? e : new Error(String(e));
        return items.map(() => error);
      }
    }
    hourly.committed(flushed.used, flushed.now);
    // Committed: announce, then answer (the broker sends each PUBACK as its batch is answered).
    for (const { tenantId, deviceId, issue } of flushed.opened) {
      const device = flushed.devices.get(deviceId);
      await announce(deps.bus, log, { type: 'IssueOpened', tenantId, deviceId, productId: device?.product ?? null, deviceGroupId: device?.deviceGroup ?? null, issue });
    }
    for (const { tenantId, report } of flushed.reports) await announce(deps.bus, log, { type: 'ErrorReported', tenantId, deviceId: report.deviceId, report });
    return items.map((item, i) => {
      const outcome = flushed.outcomes[i];
      if (!outcome) return new Error('no outcome for a queued batch');
      if ('error' in outcome) return outcome.error;
      if (outcome.result.rateLimited > 0) log.info({ deviceId: item.deviceId, rateLimited: outcome.result.rateLimited }, 'error reports over the device rate limit counted, not stored');
      return outcome.result;
    });
  }

  // PostgreSQL takes concurrent transactions, so the devices are split into lanes by ID, each with its own group
  // commit: while one lane's flush waits on the database, another's can be built and sent. A device always uses the
  // same lane, so its batches still reach the database one flush after another, in arrival order (its duplicate
  // check and hourly limit see everything before them), and two flushes in flight never share a device. What they
  // may share is an issue: its counter updates serialise on the row lock, in issue-ID order (issue-folding.ts), and
  // two flushes opening the same issue resolve like two nodes do (a unique violation, and the flush runs again).
  // SQLite has one writer: one lane.
  const lanes = Array.from({ length: dialectOf(deps.em) === 'postgresql' ? POSTGRES_LANES : 1 }, () => new GroupCommit(flush, { maxBatch: MAX_FLUSH_BATCHES }));
  const laneOf = (deviceId: string): GroupCommit<Queued, ErrorIngestResult> => {
    let h = 0;
    for (let i = 0; i < deviceId.length; i++) h = (h * 31 + deviceId.charCodeAt(i)) >>> 0;
    const lane = lanes[h % lanes.length];
    if (!lane) throw new Error('no group commit lane');
    return lane;
  };

  return function storeErrorReports(deviceId: string, batch: ErrorReportBatch): Promise<ErrorIngestResult> {
    return laneOf(deviceId).submit({ deviceId, batch });
  };
}
