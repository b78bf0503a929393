/**
 * The write path of error reports, called by the broker inside the hook that runs before PUBACK: an event is
 * acknowledged only once it is stored. Per batch, in one transaction: refuse events that make no sense for this
 * device, drop the ones stored before (a resend after a lost PUBACK), keep within the device's hourly limit
 * (counting the excess in one row), store the rest and fold the unplanned ones into issues. Announced after commit.
 */
import { raw, type EntityManager } from '@mikro-orm/core';
import { AllowedImage } from '../certificates/measurement.entities.js';
import { Deployment, DeploymentDevice } from '../deployments/deployment.entities.js';
import { Device, type DeviceEntity } from '../devices/device.entity.js';
import type { ErrorReported, IssueOpened } from '../events/events.js';
import { announce } from '../shared/announce.js';
import { forbidden, notFound } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { isUniqueViolation } from '../shared/persistence.js';
import type { ErrorReportPolicy, ServiceDeps } from '../shared/service-deps.js';
import type { ErrorEventInput, ErrorIngestResult, ErrorReportBatch } from '../views.js';
import { CATEGORY_KINDS, describeEvent, hourBucketOf, HOUR_MS, needsImage, signatureOf } from './error-categories.js';
import { ErrorIssue, ErrorIssueDevice, ErrorReport, ErrorReportDrop, type DropReason } from './error-report.entities.js';

const DAY_MS = 86_400_000;
/** A unique violation means another node stored the same thing at the same moment: retry the batch afresh. */
const CONFLICT_RETRIES = 3;

type DeviceRow = Pick<DeviceEntity, 'id' | 'tenant' | 'product' | 'deviceGroup' | 'installedImages' | 'errorEventsDroppedTotal'>;

interface Stored {
  readonly reports: ReadonlyArray<ErrorReported['report']>;
  readonly opened: ReadonlyArray<IssueOpened['issue']>;
  readonly result: ErrorIngestResult;
}

export function createErrorReportWriter(deps: ServiceDeps, policy: ErrorReportPolicy) {
  const log = deps.log.child({ service: 'error-reports' });

  /** Why this event cannot be stored for this device, or null. */
  async function refusal(em: EntityManager, device: DeviceRow, e: ErrorEventInput, now: Date): Promise<string | null> {
    if (e.startTime.getTime() > e.endTime.getTime()) return 'startTime is after endTime';
    if (e.endTime.getTime() > now.getTime() + policy.maxClockSkewSeconds * 1000) return 'endTime is in the future';
    if (e.endTime.getTime() < now.getTime() - policy.retentionDays * DAY_MS) return `older than the ${policy.retentionDays}-day retention`;
    if (needsImage(e.category) && (e.componentId === null || e.imageId === null)) return `${e.category} needs componentId and imageId`;
    if (e.componentId === null && e.imageId === null) return null;
    if (e.componentId === null || e.imageId === null) return 'componentId and imageId go together';
    const installed = (device.installedImages ?? []).find((i) => i.componentId.toLowerCase() === e.componentId?.toLowerCase());
    if (!installed) return `component ${e.componentId} is not installed on this device`;
    if (installed.imageId.toLowerCase() === e.imageId.toLowerCase()) return null;
    // An event recorded before an update may name the image the device ran then: one its tenant allowed.
    const known = await em.count(AllowedImage, { tenant: device.tenant ?? '', componentId: e.componentId.toLowerCase(), imageId: e.imageId.toLowerCase() });
    return known > 0 ? null : `image ${e.imageId} is not known for component ${e.componentId}`;
  }

  async function countDrop(em: EntityManager, device: DeviceRow, tenantId: string, reason: DropReason, count: number, now: Date): Promise<void> {
    if (count <= 0) return;
    const hourBucket = hourBucketOf(now);
    const changed = await em.nativeUpdate(ErrorReportDrop, { device: device.id, hourBucket, reason }, { dropped: raw(`dropped + ${Math.floor(count)}`), updatedAt: now });
    if (changed === 0) await em.insert(ErrorReportDrop, { id: newId(), tenant: tenantId, device: device.id, hourBucket, reason, dropped: count, updatedAt: now });
  }

  /**
   * Finds or opens the issue of one signature and counts a batch's events of it (all from one device) in a few
   * statements, whatever their number: one lookup, one device check, one counter update, and the seen-times
   * widened only when they grow.
   */
  async function foldIntoIssue(
    em: EntityManager,
    tenantId: string,
    deviceId: string,
    events: readonly ErrorEventInput[],
    now: Date,
    opened: Array<IssueOpened['issue']>,
  ): Promise<string> {
    const [e] = events;
    if (!e) throw new Error('no events to fold');
    const signature = signatureOf(e);
    const firstSeen = new Date(Math.min(...events.map((x) => x.startTime.getTime())));
    const lastSeen = new Date(Math.max(...events.map((x) => x.endTime.getTime())));
    const count = events.reduce((n, x) => n + x.count, 0);
    const existing = await em.findOne(ErrorIssue, { tenant: tenantId, signature }, { fields: ['id', 'firstSeen', 'lastSeen'], disableIdentityMap: true });
    if (!existing) {
      const id = newId();
      const row = {
        id,
        tenant: tenantId,
        signature,
        category: e.category,
        eventClass: CATEGORY_KINDS[e.category].eventClass,
        componentId: e.componentId?.toLowerCase() ?? null,
        imageId: e.imageId?.toLowerCase() ?? null,
        exitCode: e.exitCode,
        signal: e.signal,
        firstSeen,
        lastSeen,
        eventCount: count,
        deviceCount: 1,
        openedAt: now,
        deploymentId: await deploymentOf(em, deviceId, e),
      };
      await em.insert(ErrorIssue, row);
      await em.insert(ErrorIssueDevice, { id: newId(), issue: id, device: deviceId });
      opened.push({
        id,
        category: row.category,
        eventClass: row.eventClass,
        componentId: row.componentId,
        imageId: row.imageId,
        exitCode: row.exitCode,
        signal: row.signal,
        firstSeen: firstSeen.toISOString(),
        lastSeen: lastSeen.toISOString(),
        eventCount: count,
        deviceCount: 1,
        deploymentId: row.deploymentId,
      });
      return id;
    }
    const seenOnDevice = await em.count(ErrorIssueDevice, { issue: existing.id, device: deviceId });
    if (seenOnDevice === 0) await em.insert(ErrorIssueDevice, { id: newId(), issue: existing.id, device: deviceId });
    await em.nativeUpdate(
      ErrorIssue,
      { id: existing.id },
      {
        eventCount: raw(`event_count + ${count}`),
        ...(seenOnDevice === 0 ? { deviceCount: raw('device_count + 1') } : {}),
      },
    );
    // first/last seen only ever widen (conditional, so concurrent batches cannot narrow them).
    if (firstSeen < existing.firstSeen) await em.nativeUpdate(ErrorIssue, { id: existing.id, firstSeen: { $gt: firstSeen } }, { firstSeen });
    if (lastSeen > existing.lastSeen) await em.nativeUpdate(ErrorIssue, { id: existing.id, lastSeen: { $lt: lastSeen } }, { lastSeen });
    return existing.id;
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

  async function storeOnce(deviceId: string, batch: ErrorReportBatch): Promise<Stored & { device: DeviceRow }> {
    const now = deps.clock.now();
    return deps.em.fork().transactional(async (em) => {
      const device = await em.findOne(
        Device,
        { id: deviceId },
        { fields: ['id', 'tenant', 'product', 'deviceGroup', 'installedImages', 'errorEventsDroppedTotal'], disableIdentityMap: true },
      );
      if (!device) throw notFound('Device', deviceId);
      const tenantId = device.tenant;
      if (!tenantId) throw forbidden('The device is not claimed: error reports are kept for claimed devices only');

      const refused: Array<{ eventId: string; reason: string }> = [];
      const valid: ErrorEventInput[] = [];
      const seenInBatch = new Set<string>();
      for (const e of batch.events) {
        const eventId = e.eventId.toLowerCase();
        if (seenInBatch.has(eventId)) continue; // the same event twice in one batch is one event
        seenInBatch.add(eventId);
        const reason = await refusal(em, device, e, now);
        if (reason) refused.push({ eventId: e.eventId, reason });
        else valid.push({ ...e, eventId });
      }

      const already = valid.length
        ? new Set(
            (await em.find(ErrorReport, { device: deviceId, eventId: { $in: valid.map((e) => e.eventId) } }, { fields: ['eventId'], disableIdentityMap: true })).map(
              (r) => r.eventId,
            ),
          )
        : new Set<string>();
      const fresh = valid.filter((e) => !already.has(e.eventId));
      const usedThisHour = fresh.length ? await em.count(ErrorReport, { device: deviceId, receivedAt: { $gt: new Date(now.getTime() - HOUR_MS) } }) : 0;
      const allowance = Math.max(0, policy.perDeviceHourlyLimit - usedThisHour);
      const accepted = fresh.slice(0, allowance);
      const rateLimited = fresh.length - accepted.length;
      await countDrop(em, device, tenantId, 'RATE_LIMITED', rateLimited, now);

      // The device's drop counter is a running total; a smaller one means its storage was reset.
      if (batch.droppedTotal !== null && batch.droppedTotal !== device.errorEventsDroppedTotal) {
        const previous = device.errorEventsDroppedTotal;
        const newlyDropped = batch.droppedTotal > previous ? batch.droppedTotal - previous : batch.droppedTotal;
        await countDrop(em, device, tenantId, 'DEVICE_QUEUE_FULL', newlyDropped, now);
        await em.nativeUpdate(Device, { id: deviceId }, { errorEventsDroppedTotal: batch.droppedTotal });
      }

      const opened: Array<IssueOpened['issue']> = [];
      const reports: Array<ErrorReported['report']> = [];
      // Unplanned events fold into issues, one signature at a time.
      const bySignature = new Map<string, ErrorEventInput[]>();
      for (const e of accepted) {
        if (CATEGORY_KINDS[e.category].eventType !== 'Unplanned') continue;
        const key = signatureOf(e);
        bySignature.set(key, [...(bySignature.get(key) ?? []), e]);
      }
      const issueOf = new Map<string, string>();
      for (const [key, events] of bySignature) issueOf.set(key, await foldIntoIssue(em, tenantId, deviceId, events, now, opened));
      const rows = accepted.map((e) => {
        const kind = CATEGORY_KINDS[e.category];
        const issueId = kind.eventType === 'Unplanned' ? (issueOf.get(signatureOf(e)) ?? null) : null;
        const row = {
          id: newId(),
          tenant: tenantId,
          device: deviceId,
          eventId: e.eventId,
          eventType: kind.eventType,
          eventClass: kind.eventClass,
          category: e.category,
          count: e.count,
          description: describeEvent(e).slice(0, 300),
          exitCode: e.exitCode,
          signal: e.signal,
          componentId: e.componentId?.toLowerCase() ?? null,
          imageId: e.imageId?.toLowerCase() ?? null,
          startTime: e.startTime,
          endTime: e.endTime,
          hourBucket: hourBucketOf(e.startTime),
          receivedAt: now,
          product: device.product ?? null,
          deviceGroup: device.deviceGroup ?? null,
          issue: issueId,
        };
        reports.push({
          ...row,
          deviceId,
          productId: row.product,
          deviceGroupId: row.deviceGroup,
          issueId,
          startTime: e.startTime.toISOString(),
          endTime: e.endTime.toISOString(),
          receivedAt: now.toISOString(),
        });
        return row;
      });
      // One statement for the whole batch.
      if (rows.length > 0) await em.insertMany(ErrorReport, rows);
      return {
        device,
        reports,
        opened,
        result: { stored: accepted.length, duplicates: valid.length - fresh.length, rateLimited, refused },
      };
    });
  }

  return async function storeErrorReports(deviceId: string, batch: ErrorReportBatch): Promise<ErrorIngestResult> {
    let attempt = 0;
    for (;;) {
      try {
        const { device, reports, opened, result } = await storeOnce(deviceId, batch);
        const tenantId = device.tenant ?? '';
        for (const issue of opened) {
          await announce(deps.bus, log, {
            type: 'IssueOpened',
            tenantId,
            deviceId,
            productId: device.product ?? null,
            deviceGroupId: device.deviceGroup ?? null,
            issue,
          });
        }
        for (const report of reports) await announce(deps.bus, log, { type: 'ErrorReported', tenantId, deviceId, report });
        if (result.rateLimited > 0) log.info({ deviceId, rateLimited: result.rateLimited }, 'error reports over the device rate limit counted, not stored');
        return result;
      } catch (e) {
        if (!isUniqueViolation(e) || ++attempt >= CONFLICT_RETRIES) throw e;
      }
    }
  };
}
