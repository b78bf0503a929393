/**
 * Deployments: one current deployment per device group (a new one supersedes it), staged rollouts that halt
 * themselves (rollout.ts decides, driveRollouts applies, on one node at a time), and each device's truthful state
 * from what it reports. Every change a device must hear of is announced as DeviceTargetChanged; every change of a
 * deployment's counts as DeploymentProgressChanged.
 */
import type { EntityManager, FilterQuery } from '@mikro-orm/core';
import { Device } from '../devices/device.entity.js';
import { ErrorReport } from '../error-reports/error-report.entities.js';
import { Image } from '../images/image.entities.js';
import { toImageView } from '../images/images.service.js';
import { DeviceGroup } from '../products/device-group.entity.js';
import type { DeploymentsService } from '../services.js';
import type { Actor } from '../shared/actor.js';
import { announce } from '../shared/announce.js';
import { authorizePlatform, authorizeTenant } from '../shared/authorize.js';
import { tryAcquireLease } from '../shared/cluster-lease.js';
import { badInput, conflict, notFound } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { decodeCursor, encodeCursor, pageSize, type Page, type PageRequest } from '../shared/pagination.js';
import type { ServiceDeps } from '../shared/service-deps.js';
import { normalizeDeviceId, refuseNul, requireDeviceId, requireOneOf, requireUuid } from '../shared/validation.js';
import type { DeploymentDeviceView, DeploymentView, DeviceTarget, DeviceUpdateView, ImageView, UpdateReport } from '../views.js';
import { Deployment, DeploymentDevice, type DeploymentDeviceEntity, type DeploymentEntity } from './deployment.entities.js';
import { insertRows, loadTargetDevice, reconcileWithInstalled, resolveTarget, resolveTargets, storeRowStates, type ResolvedTarget, type TargetRow } from './device-targets.js';
import { GroupCommit } from '../shared/group-commit.js';
import { groupTargetsOf } from './group-targets.js';
import { progressOf } from './progress.js';
import { decide, DEVICE_UPDATE_STATES, deviceStateOf, policyProblem, type RolloutPolicy } from './rollout.js';

export const ROLLOUT_JOB = 'rollout-driver';
const ROLLOUT_LEASE_MS = 30_000;
const MAX_IMAGES = 16;
/** Device reports or look-ups stored or read together at most (GroupCommit). */
const REPORT_BATCH = 256;

/** What a progress announcement says of its deployment. */
type Announced = Pick<DeploymentEntity, 'id' | 'tenant' | 'deviceGroup' | 'state' | 'reason' | 'wave'>;

/** A deployment as afterStored reads it (column names as in the migrations). */
interface DeploymentRow {
  readonly id: string;
  readonly tenant_id: string;
  readonly device_group_id: string;
  readonly state: DeploymentEntity['state'];
  readonly reason: string | null;
  readonly wave: number | string;
  /** 0/1: whether it has a rollout policy (staged). */
  readonly staged: number | string | boolean;
}

/** A device's report as queued: an update report, or (null) a status report its row is re-derived from. */
interface PendingReport {
  readonly deviceId: string;
  readonly report: UpdateReport | null;
}

export function createDeploymentsService(deps: ServiceDeps): DeploymentsService {
  const log = deps.log.child({ service: 'deployments' });
  const groups = groupTargetsOf(deps);
  // Another node's deployment changes reach this node's cached group targets as their announcements.
  deps.bus.subscribe((event) => {
    if (event.type === 'DeploymentProgressChanged') groups.noteDeployment(event.deviceGroupId, event.deploymentId, event.state, event.wave);
  });

  async function toView(em: EntityManager, d: DeploymentEntity): Promise<DeploymentView> {
    return {
      id: d.id,
      tenantId: d.tenant,
      deviceGroupId: d.deviceGroup,
      imageIds: d.imageIds,
      state: d.state,
      reason: d.reason ?? null,
      rollout: d.rollout ?? null,
      wave: d.wave,
      createdAt: d.createdAt,
      endedAt: d.endedAt ?? null,
      progress: await progressOf(em, d.id),
    };
  }

  async function announceProgress(em: EntityManager, d: Announced): Promise<void> {
    await announce(deps.bus, log, {
      type: 'DeploymentProgressChanged',
      tenantId: d.tenant,
      deploymentId: d.id,
      deviceGroupId: d.deviceGroup,
      state: d.state,
      reason: d.reason ?? null,
      wave: d.wave,
      progress: await progressOf(em, d.id),
      at: deps.clock.now().toISOString(),
    });
  }

  const targetChanged = (tenantId: string, deviceIds: readonly string[]) =>
    Promise.all(deviceIds.map((deviceId) => announce(deps.bus, log, { type: 'DeviceTargetChanged', tenantId, deviceId })));

  async function ownDeployment(em: EntityManager, tenantId: string, id: string): Promise<DeploymentEntity> {
    const deployment = await em.findOne(Deployment, { id: requireUuid('id', id), tenant: tenantId });
    if (!deployment) throw notFound('Deployment', id);
    return deployment;
  }

  /** Makes the rows of every device now in the group; returns the IDs of those admitted now. */
  async function enrolGroup(em: EntityManager, d: DeploymentEntity, now: Date): Promise<string[]> {
    const devices = await em.find(Device, { deviceGroup: d.deviceGroup, tenant: d.tenant }, { fields: ['id'], disableIdentityMap: true });
    const existing = new Set((await em.find(DeploymentDevice, { deployment: d.id }, { fields: ['device'], disableIdentityMap: true })).map((r) => r.device));
    const missing = devices.map((r) => r.id).filter((id) => !existing.has(id));
    if (missing.length === 0) return [];
    await insertRows(em, d, missing, now);
    // As made (by this insert or, for a device that reported meanwhile, by another caller).
    const made = await em.find(DeploymentDevice, { deployment: d.id, admitted: true }, { fields: ['device'], disableIdentityMap: true });
    const added = new Set(missing);
    return made.map((r) => r.device).filter((id) => added.has(id));
  }

  /** The deployment's rows and the counts its thresholds judge. */
  async function snapshotOf(em: EntityManager, d: DeploymentEntity) {
    const rows = await em.find(DeploymentDevice, { deployment: d.id }, { orderBy: { id: 'asc' } });
    const admittedRows = rows.filter((r) => r.admitted);
    const finished = admittedRows.filter((r) => r.state === 'INSTALLED' || r.state === 'FAILED' || r.state === 'REJECTED');
    const crashReports =
      admittedRows.length === 0
        ? 0
        : await em.count(ErrorReport, {
            device: { $in: admittedRows.map((r) => r.device) },
            imageId: { $in: d.imageIds },
            eventType: 'Unplanned',
            receivedAt: { $gte: d.createdAt },
          });
    return { rows, admittedRows, counts: { finished: finished.length, failed: finished.filter((r) => r.state !== 'INSTALLED').length, crashReports } };
  }

  /** One rollout step for one deployment: snapshot, decide, apply. True when something changed. */
  async function step(em: EntityManager, d: DeploymentEntity): Promise<boolean> {
    const policy = d.rollout;
    if (!policy || d.state !== 'ACTIVE') return false;
    const now = deps.clock.now();
    await enrolGroup(em, d, now);
    const { rows, admittedRows, counts } = await snapshotOf(em, d);
    const decision = decide(policy, {
      state: d.state,
      wave: d.wave,
      total: rows.length,
      admitted: admittedRows.length,
      ...counts,
      admittedInLastMinute: admittedRows.filter((r) => r.admittedAt && now.getTime() - r.admittedAt.getTime() < 60_000).length,
      baseline: d.baseline ?? null,
    });
    switch (decision.kind) {
      case 'wait':
        return false;
      case 'halt':
        d.state = 'HALTED';
        d.reason = decision.reason;
        await em.flush();
        groups.invalidate(d.deviceGroup);
        log.warn({ deploymentId: d.id, reason: decision.reason }, 'rollout halted');
        await announceProgress(em, d);
        return true;
      case 'next-wave':
        d.wave = decision.wave;
        await em.flush();
        groups.invalidate(d.deviceGroup);
        log.info({ deploymentId: d.id, wave: decision.wave }, 'rollout wave opened');
        await announceProgress(em, d);
        return true;
      case 'admit': {
        const chosen = rows.filter((r) => !r.admitted).slice(0, decision.count);
        for (const r of chosen) {
          r.admitted = true;
          r.wave = decision.wave;
          r.admittedAt = now;
          r.updatedAt = now;
        }
        await em.flush();
        log.info({ deploymentId: d.id, wave: decision.wave, devices: chosen.length }, 'rollout admitted devices');
        // Progress first: it tells other nodes' cached group targets about the deployment before its devices hear.
        await announceProgress(em, d);
        await targetChanged(d.tenant, chosen.map((r) => r.device));
        return true;
      }
    }
  }

  /**
   * Stores a batch of device reports (GroupCommit: each is acknowledged after it), update and status reports alike,
   * in the order they came: one read of the devices and their rows, one transaction for the rows that changed, and
   * each deployment's progress announced once; a finished device may open its rollout's next wave. A status report
   * re-derives the device's row from what it runs and answers its target. One queue for both kinds, so a device's
   * status and update reports never race to write its row, and a fleet's mixed reports share batches.
   */
  async function storeReports(batch: readonly PendingReport[]): Promise<Array<DeviceTarget | null | Error>> {
    const em = deps.em.fork();
    const now = deps.clock.now();
    const resolved = await resolveTargets(em, batch.map((r) => r.deviceId), now, groups);
    const changed = new Set<string>();
    const changedRows = new Set<TargetRow>();
    const finished = new Set<string>();
    const outcomes = batch.map(({ deviceId, report }): DeviceTarget | null | Error => {
      const found = resolved.get(deviceId);
      if (!found) return notFound('Device', deviceId);
      const { target, device } = found;
      const { deployment, row } = target;
      if (report === null) {
        if (row?.admitted && deployment && reconcileWithInstalled(row, target.deploymentImages, device, now)) {
          changed.add(deployment.id);
          changedRows.add(row);
        }
        return toTarget(target);
      }
      // A report about a deployment that is no longer the device's (superseded, cancelled) changes nothing.
      if (!deployment || !row?.admitted || report.deploymentId !== deployment.id) return null;
      const imageId = report.imageId.toLowerCase();
      if (!target.deploymentImages.some((i) => i.id === imageId)) return null;
      const imageStates = { ...row.imageStates, [imageId]: report.state };
      const state = deviceStateOf(target.deploymentImages.map((i) => imageStates[i.id] ?? 'PENDING'));
      const reason = report.reason ?? (state === 'FAILED' || state === 'REJECTED' ? row.reason : null);
      if (state === 'INSTALLED' || state === 'FAILED' || state === 'REJECTED') finished.add(deployment.id);
      // Already so (the status report that came first said it runs the image): nothing to store.
      if (row.imageStates[imageId] === report.state && row.state === state && (row.reason ?? null) === (reason ?? null)) return null;
      row.imageStates = imageStates;
      row.state = state;
      row.reason = reason;
      row.updatedAt = now;
      changed.add(deployment.id);
      changedRows.add(row);
      if (state === 'REJECTED' || state === 'FAILED') log.warn({ deviceId, deploymentId: deployment.id, imageId, state: report.state, reason: report.reason }, 'device did not install an image');
      return null;
    });
    await storeRowStates(em, changedRows);
    await afterStored(em, changed, finished);
    return outcomes;
  }

  /**
   * What follows stored device reports: each deployment's progress announced once, and a rollout step where a device
   * finished. The reports are stored whatever happens here, so a failure is logged, not refused to the devices (the
   * rollout driver takes the step on its next tick).
   */
  async function afterStored(em: EntityManager, changed: ReadonlySet<string>, finished: ReadonlySet<string>): Promise<void> {
    for (const id of new Set([...changed, ...finished])) {
      try {
        // As it is now, not the held snapshot: the announcement carries its state and wave, and a step changes it.
        // Plain SQL: every batch of a fleet's reports reads it, and the ORM's find cost more than the query.
        const [row] = await em
          .getConnection()
          .execute<DeploymentRow[]>('select id, tenant_id, device_group_id, state, reason, wave, case when rollout is null then 0 else 1 end as staged from deployment where id = ?', [id], 'all');
        if (!row) continue;
        if (changed.has(id)) {
          await announceProgress(em, { id: row.id, tenant: row.tenant_id, deviceGroup: row.device_group_id, state: row.state, reason: row.reason, wave: Number(row.wave) });
        }
        // A finished device may open the next wave (or halt it); the step changes the deployment, so it loads it.
        if (finished.has(id) && Number(row.staged) === 1) {
          const deployment = await em.findOne(Deployment, { id });
          if (deployment?.rollout) await step(em, deployment);
        }
      } catch (e) {
        log.error({ deploymentId: id, err: e instanceof Error ? e.message : String(e) }, 'device reports stored, but the deployment\'s progress or rollout step failed');
      }
    }
  }
  const reports = new GroupCommit(storeReports, { maxBatch: REPORT_BATCH });

  /** Target look-ups (pushes, downloads) in batches: one query for the devices and one for their rows per batch. */
  async function lookUpTargets(deviceIds: readonly string[]): Promise<Array<ResolvedTarget | null>> {
    const resolved = await resolveTargets(deps.em.fork(), deviceIds, deps.clock.now(), groups);
    return deviceIds.map((id) => resolved.get(id)?.target ?? null);
  }
  const targetLookups = new GroupCommit(lookUpTargets, { maxBatch: REPORT_BATCH });

  const toTarget = (t: ResolvedTarget): DeviceTarget => ({ deploymentId: t.deployment?.id ?? null, images: t.images.map(toImageView) });

  return {
    async createDeployment(actor: Actor | null, input: { deviceGroupId: string; imageIds: readonly string[]; rollout?: RolloutPolicy | null }): Promise<DeploymentView> {
      const user = authorizeTenant(actor, 'deployment.write');
      const groupId = requireUuid('deviceGroupId', input.deviceGroupId);
      if (input.imageIds.length > MAX_IMAGES) throw badInput('imageIds', `at most ${MAX_IMAGES}`);
      const imageIds = [...new Set(input.imageIds.map((id) => requireUuid('imageIds', id).toLowerCase()))];
      if (input.rollout) {
        const problem = policyProblem(input.rollout);
        if (problem) throw badInput('rollout', problem);
      }
      const em = deps.em.fork();
      const group = await em.findOne(DeviceGroup, { id: groupId, tenant: user.tenantId });
      if (!group) throw notFound('DeviceGroup', groupId);
      // Another tenant's image (or none) is NOT_FOUND, exactly like an image that does not exist.
      const images = await em.find(Image, { id: { $in: imageIds }, tenant: user.tenantId });
      for (const id of imageIds) if (!images.some((i) => i.id === id)) throw notFound('Image', id);
      const notReady = images.find((i) => i.status !== 'READY');
      if (notReady) throw conflict(`Image ${notReady.id} has no payload yet`, { imageId: notReady.id });
      const components = new Map<string, string>();
      for (const i of images) {
        const other = components.get(i.componentId);
        if (other) throw badInput('imageIds', `images ${other} and ${i.id} are both for component ${i.componentId}: at most one image per component`);
        components.set(i.componentId, i.id);
      }

      const now = deps.clock.now();
      const { deployment, superseded } = await em.transactional(async (tem) => {
        const previous = await tem.find(Deployment, { deviceGroup: groupId, state: { $in: ['ACTIVE', 'HALTED'] } });
        for (const p of previous) {
          p.state = 'SUPERSEDED';
          p.endedAt = now;
          p.reason = 'a newer deployment replaced it';
        }
        const created = tem.create(Deployment, {
          id: newId(),
          tenant: user.tenantId,
          deviceGroup: groupId,
          imageIds,
          state: 'ACTIVE',
          reason: null,
          rollout: input.rollout ?? null,
          baseline: null,
          wave: 0,
          createdAt: now,
          endedAt: null,
        });
        await tem.flush();
        return { deployment: created, superseded: previous };
      });
      groups.invalidate(groupId);
      const admitted = await enrolGroup(em, deployment, now);
      log.info({ deploymentId: deployment.id, deviceGroupId: groupId, images: imageIds.length, staged: input.rollout != null }, 'deployment created');
      for (const p of superseded) await announceProgress(em, p);
      if (deployment.rollout) {
        // The first wave starts now; the driver carries on.
        while (await step(em, deployment)) if (deployment.state !== 'ACTIVE') break;
      }
      // Progress first: other nodes learn of the new deployment from it (their cached group targets) before its devices are told.
      await announceProgress(em, deployment);
      // Devices of a superseded deployment move to the new target (or to none, until the rollout admits them).
      const moved = superseded.length > 0 ? (await em.find(Device, { deviceGroup: groupId }, { fields: ['id'] })).map((d) => d.id) : admitted;
      await targetChanged(user.tenantId, [...new Set([...moved, ...admitted])]);
      return toView(em, deployment);
    },

    async listDeployments(actor: Actor | null, deviceGroupId: string): Promise<readonly DeploymentView[]> {
      const user = authorizeTenant(actor, 'tenant.read');
      const em = deps.em.fork();
      const groupId = requireUuid('deviceGroupId', deviceGroupId);
      if ((await em.count(DeviceGroup, { id: groupId, tenant: user.tenantId })) === 0) throw notFound('DeviceGroup', groupId);
      const rows = await em.find(Deployment, { deviceGroup: groupId, tenant: user.tenantId }, { orderBy: { createdAt: 'desc', id: 'desc' } });
      return Promise.all(rows.map((d) => toView(em, d)));
    },

    async getDeployment(actor: Actor | null, deploymentId: string): Promise<DeploymentView> {
      const user = authorizeTenant(actor, 'tenant.read');
      const em = deps.em.fork();
      return toView(em, await ownDeployment(em, user.tenantId, deploymentId));
    },

    async deploymentDevices(actor: Actor | null, deploymentId: string, state: string | null, page: PageRequest): Promise<Page<DeploymentDeviceView>> {
      const user = authorizeTenant(actor, 'tenant.read');
      const em = deps.em.fork();
      const d = await ownDeployment(em, user.tenantId, deploymentId);
      const limit = pageSize(page);
      const where: FilterQuery<DeploymentDeviceEntity> & Record<string, unknown> = { deployment: d.id };
      if (state !== null) where['state'] = requireOneOf('state', DEVICE_UPDATE_STATES, state);
      let after: string | null = null;
      if (page.after != null) {
        after = normalizeDeviceId(decodeCursor(page.after));
        if (!after) throw badInput('after', 'malformed cursor');
      }
      const [totalCount, rows] = await Promise.all([
        em.count(DeploymentDevice, where),
        em.find(DeploymentDevice, after ? { $and: [where, { device: { $gt: after } }] } : where, { orderBy: { device: 'asc' }, limit: limit + 1 }),
      ]);
      const items = rows.slice(0, limit).map((r) => ({
        deploymentId: r.deployment,
        deviceId: r.device,
        admitted: r.admitted,
        wave: r.wave ?? null,
        state: r.state,
        reason: r.reason ?? null,
        updatedAt: r.updatedAt,
      }));
      const itemCursors = items.map((i) => encodeCursor(i.deviceId));
      return { items, totalCount, hasNextPage: rows.length > limit, endCursor: itemCursors.at(-1) ?? null, itemCursors };
    },

    async haltDeployment(actor: Actor | null, deploymentId: string, reason: string | null): Promise<DeploymentView> {
      const user = authorizeTenant(actor, 'deployment.write');
      if (reason !== null) refuseNul('reason', reason);
      const em = deps.em.fork();
      const d = await ownDeployment(em, user.tenantId, deploymentId);
      if (d.state !== 'ACTIVE') throw conflict(`The deployment is ${d.state}`);
      d.state = 'HALTED';
      d.reason = (reason ?? '').trim().slice(0, 500) || 'halted by a user';
      await em.flush();
      groups.invalidate(d.deviceGroup);
      log.info({ deploymentId: d.id }, 'deployment halted by a user');
      await announceProgress(em, d);
      return toView(em, d);
    },

    async resumeDeployment(actor: Actor | null, deploymentId: string): Promise<DeploymentView> {
      const user = authorizeTenant(actor, 'deployment.resume');
      const em = deps.em.fork();
      const d = await ownDeployment(em, user.tenantId, deploymentId);
      if (d.state !== 'HALTED') throw conflict(`Only a halted deployment resumes; it is ${d.state}`);
      d.state = 'ACTIVE';
      d.reason = null;
      // Thresholds count again from here: what made it halt was seen by a person who chose to go on.
      d.baseline = (await snapshotOf(em, d)).counts;
      await em.flush();
      groups.invalidate(d.deviceGroup);
      log.info({ deploymentId: d.id }, 'deployment resumed');
      while (await step(em, d)) if (d.state !== 'ACTIVE') break;
      await announceProgress(em, d);
      return toView(em, d);
    },

    async cancelDeployment(actor: Actor | null, deploymentId: string): Promise<DeploymentView> {
      const user = authorizeTenant(actor, 'deployment.resume');
      const em = deps.em.fork();
      const d = await ownDeployment(em, user.tenantId, deploymentId);
      if (d.state !== 'ACTIVE' && d.state !== 'HALTED') throw conflict(`The deployment is ${d.state}`);
      d.state = 'CANCELLED';
      d.endedAt = deps.clock.now();
      d.reason = 'cancelled by an Administrator';
      await em.flush();
      groups.invalidate(d.deviceGroup);
      log.info({ deploymentId: d.id }, 'deployment cancelled');
      const devices = (await em.find(DeploymentDevice, { deployment: d.id, admitted: true }, { fields: ['device'] })).map((r) => r.device);
      await announceProgress(em, d);
      await targetChanged(d.tenant, devices);
      return toView(em, d);
    },

    async deviceUpdate(actor: Actor | null, deviceId: string): Promise<DeviceUpdateView> {
      const user = authorizeTenant(actor, 'tenant.read');
      const id = requireDeviceId('deviceId', deviceId);
      const em = deps.em.fork();
      const device = await loadTargetDevice(em, id);
      if (!device || device.tenant !== user.tenantId) throw notFound('Device', id);
      const target = await resolveTarget(em, device, deps.clock.now(), groups);
      return {
        deploymentId: target.deployment?.id ?? null,
        targetImages: target.images.map(toImageView),
        updateState: target.row?.admitted ? target.row.state : 'NONE',
      };
    },

    async statusReported(deviceId: string): Promise<DeviceTarget> {
      const target = await reports.submit({ deviceId, report: null });
      if (!target) throw new Error('a status report was answered without a target');
      return target;
    },

    async targetFor(deviceId: string): Promise<DeviceTarget | null> {
      const target = await targetLookups.submit(deviceId);
      return target ? toTarget(target) : null;
    },

    async reportUpdate(deviceId: string, report: UpdateReport): Promise<void> {
      await reports.submit({ deviceId, report });
    },

    async downloadableImage(deviceId: string, imageId: string): Promise<ImageView | null> {
      const target = await targetLookups.submit(deviceId);
      const image = target?.images.find((i) => i.id === imageId.toLowerCase());
      return image ? toImageView(image) : null;
    },

    async driveRollouts(actor: Actor | null, holder: string): Promise<{ readonly ran: boolean; readonly steps: number }> {
      authorizePlatform(actor, 'rollout.drive');
      if (!(await tryAcquireLease(deps.em, ROLLOUT_JOB, holder, ROLLOUT_LEASE_MS, deps.clock.now()))) return { ran: false, steps: 0 };
      const em = deps.em.fork();
      const active = await em.find(Deployment, { state: 'ACTIVE', rollout: { $ne: null } });
      let steps = 0;
      for (const d of active) {
        // A few steps per tick: admit, then maybe open the next wave and admit again.
        for (let i = 0; i < 3 && (await step(em, d)); i++) steps++;
      }
      return { ran: true, steps };
    },
  };
}
