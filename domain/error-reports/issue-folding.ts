/**
 * Folds one flush's unplanned events into issues (one per tenant and signature) in a few statements whatever the
 * number of events: one lookup of the issues, one of the devices they were seen on, the new rows in bulk, and per
 * existing issue one update (its counters, and its seen-times where they widen).
 */
import type { EntityManager } from '@mikro-orm/core';
import { Deployment, DeploymentDevice } from '../deployments/deployment.entities.js';
import type { IssueOpened } from '../events/events.js';
import { newId } from '../shared/ids.js';
import { chunks, placeholders } from '../shared/persistence.js';
import type { ErrorEventInput } from '../views.js';
import { CATEGORY_KINDS } from './error-categories.js';
import { ErrorIssue, ErrorIssueDevice } from './error-report.entities.js';

/** Rows per statement, well under both drivers' parameter limits. */
const CHUNK = 200;

export interface IssueEvent {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly signature: string;
  readonly event: ErrorEventInput;
}

export interface OpenedIssue {
  readonly tenantId: string;
  /** The device whose event opened it. */
  readonly deviceId: string;
  readonly issue: IssueOpened['issue'];
}

interface Group {
  readonly tenantId: string;
  readonly signature: string;
  readonly first: IssueEvent;
  /** In order of first appearance. */
  readonly devices: Set<string>;
  firstSeen: number;
  lastSeen: number;
  count: number;
}

export const issueKey = (tenantId: string, signature: string): string => `${tenantId}\n${signature}`;

/** Returns the issue ID of every (tenant, signature) key, and the issues this flush opened. */
export async function foldIntoIssues(em: EntityManager, events: readonly IssueEvent[], now: Date): Promise<{ issueOf: Map<string, string>; opened: OpenedIssue[] }> {
  const groups = new Map<string, Group>();
  for (const x of events) {
    const key = issueKey(x.tenantId, x.signature);
    let g = groups.get(key);
    if (!g) {
      g = { tenantId: x.tenantId, signature: x.signature, first: x, devices: new Set(), firstSeen: Infinity, lastSeen: -Infinity, count: 0 };
      groups.set(key, g);
    }
    g.devices.add(x.deviceId);
    g.firstSeen = Math.min(g.firstSeen, x.event.startTime.getTime());
    g.lastSeen = Math.max(g.lastSeen, x.event.endTime.getTime());
    g.count += x.event.count;
  }
  const issueOf = new Map<string, string>();
  const opened: OpenedIssue[] = [];
  if (groups.size === 0) return { issueOf, opened };

  // Plain SQL, like the reports' own statements: these run once per flush, and the ORM's query building and entity
  // mapping cost more than the look-ups.
  const connection = em.getConnection();
  const trx = em.getTransactionContext();
  const existing = new Map<string, { id: string }>();
  for (const part of chunks([...groups.values()], CHUNK)) {
    const byTenant = new Map<string, string[]>();
    for (const g of part) {
      let signatures = byTenant.get(g.tenantId);
      if (!signatures) byTenant.set(g.tenantId, (signatures = []));
      signatures.push(g.signature);
    }
    const branches = [...byTenant].map(([, signatures]) => `(tenant_id = ? and signature in (${placeholders(signatures.length)}))`);
    const rows: Array<{ id: string; tenant_id: string; signature: string }> = await connection.execute(
      `select id, tenant_id, signature from error_issue where ${branches.join(' or ')}`,
      [...byTenant].flat(2),
      'all',
      trx,
    );
    for (const r of rows) existing.set(issueKey(r.tenant_id, r.signature), { id: r.id });
  }

  // Which devices the existing issues were seen on already (a superset query, narrowed here).
  const seen = new Set<string>();
  const existingIds = [...existing.values()].map((i) => i.id);
  const devicesOfExisting = [...new Set([...groups].filter(([key]) => existing.has(key)).flatMap(([, g]) => [...g.devices]))];
  for (const ids of chunks(existingIds, CHUNK)) {
    for (const devices of chunks(devicesOfExisting, CHUNK)) {
      const rows: Array<{ issue_id: string; device_id: string }> = await connection.execute(
        `select issue_id, device_id from error_issue_device where issue_id in (${placeholders(ids.length)}) and device_id in (${placeholders(devices.length)})`,
        [...ids, ...devices],
        'all',
        trx,
      );
      for (const r of rows) seen.add(`${r.issue_id}\n${r.device_id}`);
    }
  }

  const newIssues = [];
  const newLinks: Array<{ id: string; issue: string; device: string }> = [];
  const updates: Array<{ id: string; count: number; newDevices: number; firstSeen: Date; lastSeen: Date }> = [];
  for (const [key, g] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const firstSeen = new Date(g.firstSeen);
    const lastSeen = new Date(g.lastSeen);
    const found = existing.get(key);
    if (found) {
      issueOf.set(key, found.id);
      const fresh = [...g.devices].filter((d) => !seen.has(`${found.id}\n${d}`));
      for (const device of fresh) newLinks.push({ id: newId(), issue: found.id, device });
      updates.push({
        id: found.id,
        count: g.count,
        newDevices: fresh.length,
        // The flush's own span; the update keeps whichever is wider.
        firstSeen,
        lastSeen,
      });
      continue;
    }
    const e = g.first.event;
    const row = {
      id: newId(),
      tenant: g.tenantId,
      signature: g.signature,
      category: e.category,
      eventClass: CATEGORY_KINDS[e.category].eventClass,
      componentId: e.componentId?.toLowerCase() ?? null,
      imageId: e.imageId?.toLowerCase() ?? null,
      exitCode: e.exitCode,
      signal: e.signal,
      firstSeen,
      lastSeen,
      eventCount: g.count,
      deviceCount: g.devices.size,
      openedAt: now,
      deploymentId: await deploymentOf(em, g.first.deviceId, e),
    };
    newIssues.push(row);
    issueOf.set(key, row.id);
    for (const device of g.devices) newLinks.push({ id: newId(), issue: row.id, device });
    opened.push({
      tenantId: g.tenantId,
      deviceId: g.first.deviceId,
      issue: {
        id: row.id,
        category: row.category,
        eventClass: row.eventClass,
        componentId: row.componentId,
        imageId: row.imageId,
        exitCode: row.exitCode,
        signal: row.signal,
        firstSeen: firstSeen.toISOString(),
        lastSeen: lastSeen.toISOString(),
        eventCount: row.eventCount,
        deviceCount: row.deviceCount,
        deploymentId: row.deploymentId,
      },
    });
  }
  for (const rows of chunks(newIssues, CHUNK)) await em.insertMany(ErrorIssue, rows);
  for (const rows of chunks(newLinks, CHUNK)) await em.insertMany(ErrorIssueDevice, rows);
  // In ID order, so two nodes (or lanes) updating the same issues never wait on each other in a cycle. One statement
  // per issue: the counters add up, and first/last seen only ever widen (in the statement, so concurrent flushes
  // cannot narrow them).
  const platform = em.getPlatform();
  for (const u of updates.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    const first = platform.processDateProperty(u.firstSeen);
    const last = platform.processDateProperty(u.lastSeen);
    await connection.execute(
      `update error_issue set event_count = event_count + ?, device_count = device_count + ?, ` +
        `first_seen = case when first_seen > ? then ? else first_seen end, last_seen = case when last_seen < ? then ? else last_seen end where id = ?`,
      [Math.floor(u.count), u.newDevices, first, first, last, last, u.id],
      'run',
      trx,
    );
  }
  return { issueOf, opened };
}

/** The deployment that put the event's image on this device, if the event came after it began. */
async function deploymentOf(em: EntityManager, deviceId: string, e: ErrorEventInput): Promise<string | null> {
  if (!e.imageId) return null;
  const rows = await em.find(DeploymentDevice, { device: deviceId, admitted: true }, { fields: ['deployment'], disableIdentityMap: true });
  if (rows.length === 0) return null;
  const deployments = await em.find(
    Deployment,
    { id: { $in: rows.map((r) => r.deployment) }, createdAt: { $lte: e.startTime } },
    { orderBy: { createdAt: 'desc' }, disableIdentityMap: true },
  );
  return deployments.find((d) => d.imageIds.includes(e.imageId?.toLowerCase() ?? ''))?.id ?? null;
}
