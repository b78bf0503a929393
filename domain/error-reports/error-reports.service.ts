/**
 * Error reports: the broker stores them (store-error-reports.ts); tenants read them as pages, summaries, issues
 * and a full export; a periodic job purges what is past retention, on one node of the cluster at a time.
 */
import type { FilterQuery } from '@mikro-orm/core';
import type { ErrorReportsService } from '../services.js';
import type { Actor } from '../shared/actor.js';
import { authorizePlatform, authorizeTenant } from '../shared/authorize.js';
import { tryAcquireLease } from '../shared/cluster-lease.js';
import { badInput, notFound } from '../shared/errors.js';
import { decodeCursor, encodeCursor, pageSize, type Page, type PageRequest } from '../shared/pagination.js';
import { DEFAULT_ERROR_REPORT_POLICY, type ServiceDeps } from '../shared/service-deps.js';
import { requireDeviceId, requireOneOf, requireUuid } from '../shared/validation.js';
import {
  ERROR_SUMMARY_GROUPS,
  ISSUE_SORTS,
  TIME_BUCKETS,
  type ErrorReportFilter,
  type ErrorReportView,
  type ErrorSummary,
  type ErrorSummaryGroupBy,
  type ErrorSummaryRow,
  type IssueFilter,
  type IssueSort,
  type IssueView,
  type TimeBucket,
} from '../views.js';
import { ERROR_CATEGORIES, ERROR_EVENT_CLASSES, ERROR_EVENT_TYPES, hourBucketOf, HOUR_MS } from './error-categories.js';
import { ErrorIssue, ErrorReport, ErrorReportDrop, type ErrorIssueEntity, type ErrorReportDropEntity, type ErrorReportEntity } from './error-report.entities.js';
import { createErrorReportWriter } from './store-error-reports.js';

const EXPORT_PAGE = 500;
const SUMMARY_PAGE = 5000;
const PURGE_BATCH = 1000;
export const PURGE_JOB = 'error-report-purge';
const PURGE_LEASE_MS = 10 * 60_000;
const DAY_MS = 86_400_000;

export function toErrorReportView(r: ErrorReportEntity): ErrorReportView {
  return {
    id: r.id,
    eventId: r.eventId,
    tenantId: r.tenant,
    deviceId: r.device,
    productId: r.product ?? null,
    deviceGroupId: r.deviceGroup ?? null,
    eventType: r.eventType,
    eventClass: r.eventClass,
    category: r.category,
    count: r.count,
    description: r.description,
    exitCode: r.exitCode ?? null,
    signal: r.signal ?? null,
    componentId: r.componentId ?? null,
    imageId: r.imageId ?? null,
    startTime: r.startTime,
    endTime: r.endTime,
    receivedAt: r.receivedAt,
    issueId: r.issue ?? null,
  };
}

export function toIssueView(i: ErrorIssueEntity): IssueView {
  return {
    id: i.id,
    tenantId: i.tenant,
    category: i.category,
    eventClass: i.eventClass,
    componentId: i.componentId ?? null,
    imageId: i.imageId ?? null,
    exitCode: i.exitCode ?? null,
    signal: i.signal ?? null,
    firstSeen: i.firstSeen,
    lastSeen: i.lastSeen,
    eventCount: i.eventCount,
    deviceCount: i.deviceCount,
    deploymentId: i.deploymentId ?? null,
  };
}

function validDate(field: string, d: Date | null | undefined): Date | null {
  if (d == null) return null;
  if (Number.isNaN(d.getTime())) throw badInput(field, 'must be a date-time');
  return d;
}

/** The tenant's rows matching the filter; every field validated, so a bad ID is BAD_USER_INPUT, not an empty page. */
function reportWhere(tenantId: string, f: ErrorReportFilter): FilterQuery<ErrorReportEntity> {
  const where: FilterQuery<ErrorReportEntity> & Record<string, unknown> = { tenant: tenantId };
  if (f.productId != null) where.product = requireUuid('productId', f.productId);
  if (f.deviceGroupId != null) where.deviceGroup = requireUuid('deviceGroupId', f.deviceGroupId);
  if (f.deviceId != null) where.device = requireDeviceId('deviceId', f.deviceId);
  if (f.category != null) where.category = requireOneOf('category', ERROR_CATEGORIES, f.category);
  if (f.eventClass != null) where.eventClass = requireOneOf('eventClass', ERROR_EVENT_CLASSES, f.eventClass);
  if (f.eventType != null) where.eventType = requireOneOf('eventType', ERROR_EVENT_TYPES, f.eventType);
  if (f.componentId != null) where.componentId = requireUuid('componentId', f.componentId).toLowerCase();
  if (f.imageId != null) where.imageId = requireUuid('imageId', f.imageId).toLowerCase();
  const from = validDate('from', f.from);
  const to = validDate('to', f.to);
  if (from && to && from.getTime() > to.getTime()) throw badInput('from', 'must not be after to');
  if (from || to) where.startTime = { ...(from ? { $gte: from } : {}), ...(to ? { $lt: to } : {}) };
  return where;
}

/** Newest first; the cursor is the last row's start time and ID. */
function reportCursor(r: Pick<ErrorReportView, 'startTime' | 'id'>): string {
  return encodeCursor(`${r.startTime.toISOString()}|${r.id}`);
}

function afterReport(cursor: string): FilterQuery<ErrorReportEntity> {
  const [iso = '', id = ''] = decodeCursor(cursor).split('|');
  const at = new Date(iso);
  if (Number.isNaN(at.getTime()) || !id) throw badInput('after', 'malformed cursor');
  return { $or: [{ startTime: { $lt: at } }, { startTime: at, id: { $lt: id } }] };
}

function groupKey(r: Pick<ErrorReportEntity, 'category' | 'componentId' | 'imageId' | 'product' | 'deviceGroup' | 'device'>, by: ErrorSummaryGroupBy): string | null {
  switch (by) {
    case 'NONE':
      return null;
    case 'CATEGORY':
      return r.category;
    case 'COMPONENT':
      return r.componentId ?? null;
    case 'IMAGE':
      return r.imageId ?? null;
    case 'PRODUCT':
      return r.product ?? null;
    case 'DEVICE_GROUP':
      return r.deviceGroup ?? null;
    case 'DEVICE':
      return r.device;
  }
}

function bucketStartOf(hourBucket: number, bucket: TimeBucket | null): number | null {
  if (bucket === null) return null;
  return bucket === 'HOUR' ? hourBucket * HOUR_MS : Math.floor((hourBucket * HOUR_MS) / DAY_MS) * DAY_MS;
}

export function createErrorReportsService(deps: ServiceDeps): ErrorReportsService {
  const policy = deps.errorReports ?? DEFAULT_ERROR_REPORT_POLICY;
  const log = deps.log.child({ service: 'error-reports' });
  const store = createErrorReportWriter(deps, policy);

  async function* exportRows(where: FilterQuery<ErrorReportEntity>): AsyncGenerator<ErrorReportView> {
    let after: FilterQuery<ErrorReportEntity> | null = null;
    for (;;) {
      const rows: ErrorReportEntity[] = await deps.em
        .fork()
        .find(ErrorReport, after ? { $and: [where, after] } : where, { orderBy: { startTime: 'desc', id: 'desc' }, limit: EXPORT_PAGE, disableIdentityMap: true });
      for (const r of rows) yield toErrorReportView(r);
      const last = rows.at(-1);
      if (!last || rows.length < EXPORT_PAGE) return;
      after = { $or: [{ startTime: { $lt: last.startTime } }, { startTime: last.startTime, id: { $lt: last.id } }] };
    }
  }

  return {
    report: (deviceId, batch) => store(deviceId, batch),

    async listErrorReports(actor: Actor | null, filter: ErrorReportFilter, page: PageRequest): Promise<Page<ErrorReportView>> {
      const user = authorizeTenant(actor, 'tenant.read');
      const limit = pageSize(page);
      const where = reportWhere(user.tenantId, filter);
      const em = deps.em.fork();
      const [totalCount, rows] = await Promise.all([
        em.count(ErrorReport, where),
        em.find(ErrorReport, page.after != null ? { $and: [where, afterReport(page.after)] } : where, {
          orderBy: { startTime: 'desc', id: 'desc' },
          limit: limit + 1,
        }),
      ]);
      const items = rows.slice(0, limit).map(toErrorReportView);
      const itemCursors = items.map(reportCursor);
      return { items, totalCount, hasNextPage: rows.length > limit, endCursor: itemCursors.at(-1) ?? null, itemCursors };
    },

    async exportErrorReports(actor: Actor | null, filter: ErrorReportFilter): Promise<AsyncIterable<ErrorReportView>> {
      const user = authorizeTenant(actor, 'tenant.read');
      return exportRows(reportWhere(user.tenantId, filter));
    },

    async errorSummary(actor: Actor | null, filter: ErrorReportFilter, groupBy: ErrorSummaryGroupBy, bucket: TimeBucket | null): Promise<ErrorSummary> {
      const user = authorizeTenant(actor, 'tenant.read');
      const by = requireOneOf('groupBy', ERROR_SUMMARY_GROUPS, groupBy);
      const timeBucket = bucket === null ? null : requireOneOf('bucket', TIME_BUCKETS, bucket);
      const where = reportWhere(user.tenantId, filter);
      const groups = new Map<string, { key: string | null; bucketStart: number | null; events: number; reports: number; devices: Set<string> }>();
      const em = deps.em.fork();
      // Aggregated here from the indexed rows, one page at a time (bounded memory; retention bounds the total).
      let after = '';
      for (;;) {
        const rows = await em.find(ErrorReport, after ? { $and: [where, { id: { $gt: after } }] } : where, {
          fields: ['id', 'category', 'componentId', 'imageId', 'product', 'deviceGroup', 'device', 'count', 'hourBucket'],
          orderBy: { id: 'asc' },
          limit: SUMMARY_PAGE,
          disableIdentityMap: true,
        });
        for (const r of rows) {
          const key = groupKey(r, by);
          const bucketStart = bucketStartOf(r.hourBucket, timeBucket);
          const id = `${key ?? ''}\u0000${bucketStart ?? ''}`;
          let g = groups.get(id);
          if (!g) groups.set(id, (g = { key, bucketStart, events: 0, reports: 0, devices: new Set() }));
          g.events += r.count;
          g.reports += 1;
          g.devices.add(r.device);
        }
        const last = rows.at(-1);
        if (!last || rows.length < SUMMARY_PAGE) break;
        after = last.id;
      }
      const rows: ErrorSummaryRow[] = [...groups.values()]
        .sort((a, b) => (a.bucketStart ?? 0) - (b.bucketStart ?? 0) || b.events - a.events || (a.key ?? '').localeCompare(b.key ?? ''))
        .map((g) => ({
          key: g.key,
          bucketStart: g.bucketStart === null ? null : new Date(g.bucketStart),
          eventCount: g.events,
          reportCount: g.reports,
          deviceCount: g.devices.size,
        }));

      const dropWhere: FilterQuery<ErrorReportDropEntity> & Record<string, unknown> = { tenant: user.tenantId };
      if (filter.deviceId != null) dropWhere.device = requireDeviceId('deviceId', filter.deviceId);
      const from = validDate('from', filter.from);
      const to = validDate('to', filter.to);
      if (from || to) dropWhere.hourBucket = { ...(from ? { $gte: hourBucketOf(from) } : {}), ...(to ? { $lte: hourBucketOf(to) } : {}) };
      const drops = await em.find(ErrorReportDrop, dropWhere, { fields: ['reason', 'dropped'], disableIdentityMap: true });
      const sum = (reason: string) => drops.filter((d) => d.reason === reason).reduce((n, d) => n + d.dropped, 0);
      return { rows, rateLimitedCount: sum('RATE_LIMITED'), droppedByDevicesCount: sum('DEVICE_QUEUE_FULL') };
    },

    async listIssues(actor: Actor | null, filter: IssueFilter, sort: IssueSort, page: PageRequest): Promise<Page<IssueView>> {
      const user = authorizeTenant(actor, 'tenant.read');
      const order = requireOneOf('sort', ISSUE_SORTS, sort);
      const limit = pageSize(page);
      const where: FilterQuery<ErrorIssueEntity> & Record<string, unknown> = { tenant: user.tenantId };
      if (filter.category != null) where.category = requireOneOf('category', ERROR_CATEGORIES, filter.category);
      if (filter.componentId != null) where.componentId = requireUuid('componentId', filter.componentId).toLowerCase();
      if (filter.imageId != null) where.imageId = requireUuid('imageId', filter.imageId).toLowerCase();
      const since = validDate('seenSince', filter.seenSince);
      if (since) where.lastSeen = { $gte: since };
      // Issues are few per tenant and their counts move, so the cursor is a position, not a key.
      let offset = 0;
      if (page.after != null) {
        const m = /^o:(\d{1,9})$/.exec(decodeCursor(page.after));
        if (!m) throw badInput('after', 'malformed cursor');
        offset = Number(m[1]);
      }
      const orderBy =
        order === 'DEVICE_COUNT'
          ? ({ deviceCount: 'desc', eventCount: 'desc', lastSeen: 'desc', id: 'asc' } as const)
          : ({ lastSeen: 'desc', id: 'asc' } as const);
      const em = deps.em.fork();
      const [totalCount, rows] = await Promise.all([em.count(ErrorIssue, where), em.find(ErrorIssue, where, { orderBy, limit: limit + 1, offset })]);
      const items = rows.slice(0, limit).map(toIssueView);
      const itemCursors = items.map((_, i) => encodeCursor(`o:${offset + i + 1}`));
      return { items, totalCount, hasNextPage: rows.length > limit, endCursor: itemCursors.at(-1) ?? null, itemCursors };
    },

    async getIssue(actor: Actor | null, issueId: string): Promise<IssueView> {
      const user = authorizeTenant(actor, 'tenant.read');
      const id = requireUuid('id', issueId);
      const issue = await deps.em.fork().findOne(ErrorIssue, { id, tenant: user.tenantId });
      if (!issue) throw notFound('Issue', id);
      return toIssueView(issue);
    },

    async purgeExpired(actor: Actor | null, holder: string): Promise<{ readonly ran: boolean; readonly deleted: number }> {
      authorizePlatform(actor, 'errors.purge');
      const now = deps.clock.now();
      if (!(await tryAcquireLease(deps.em, PURGE_JOB, holder, PURGE_LEASE_MS, now))) return { ran: false, deleted: 0 };
      const cutoff = new Date(now.getTime() - policy.retentionDays * DAY_MS);
      const em = deps.em.fork();
      let deleted = 0;
      // In batches, so a large backlog never holds one long transaction (or lock) on the table.
      for (;;) {
        const batch = await em.find(ErrorReport, { endTime: { $lt: cutoff } }, { fields: ['id'], limit: PURGE_BATCH, disableIdentityMap: true });
        if (batch.length === 0) break;
        deleted += await em.nativeDelete(ErrorReport, { id: { $in: batch.map((r) => r.id) } });
        if (batch.length < PURGE_BATCH) break;
      }
      await em.nativeDelete(ErrorReportDrop, { hourBucket: { $lt: hourBucketOf(cutoff) } });
      if (deleted > 0) log.info({ deleted, cutoff: cutoff.toISOString() }, 'error reports past retention purged');
      return { ran: true, deleted };
    },
  };
}
