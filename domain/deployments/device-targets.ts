/**
 * What one device should run: its group's OS feed's newest release, then the images of the group's current
 * deployment once the rollout admitted the device, minus what the group's update policy holds back
 * (No3rdPartyAppUpdates: no application images). Also keeps the device's deployment row truthful from what it
 * reports installed.
 */
import type { EntityManager } from '@mikro-orm/core';
import { Device, type DeviceEntity } from '../devices/device.entity.js';
import type { ImageEntity } from '../images/image.entities.js';
import { newId } from '../shared/ids.js';
import { chunks, executeTogether, isUniqueViolation, placeholders } from '../shared/persistence.js';
import type { InstalledImageView } from '../views.js';
import { DeploymentDevice, type DeploymentDeviceEntity, type DeploymentEntity } from './deployment.entities.js';
import type { GroupTarget, GroupTargets } from './group-targets.js';
import { deviceStateOf, type ImageUpdateState } from './rollout.js';

export type TargetDevice = Pick<DeviceEntity, 'id' | 'tenant' | 'deviceGroup' | 'installedImages' | 'osVersion'>;

/** What a device's row of a deployment is read and written as: an entity (rowFor) or a plain row (rowsFor). */
export type TargetRow = Pick<DeploymentDeviceEntity, 'id' | 'device' | 'admitted' | 'state' | 'reason' | 'imageStates' | 'updatedAt'>;

export interface ResolvedTarget {
  readonly deployment: DeploymentEntity | null;
  readonly row: TargetRow | null;
  /** OS first. */
  readonly images: readonly ImageEntity[];
  /** The deployment's images this device gets (after the update policy). */
  readonly deploymentImages: readonly ImageEntity[];
}

export const NO_TARGET: ResolvedTarget = { deployment: null, row: null, images: [], deploymentImages: [] };

export async function loadTargetDevice(em: EntityManager, deviceId: string): Promise<TargetDevice | null> {
  return em.findOne(Device, { id: deviceId }, { fields: ['id', 'tenant', 'deviceGroup', 'installedImages', 'osVersion'] });
}

/** Most ids in one `IN (...)` list. */
const READ_CHUNK = 500;

/** JSON columns come back as text from SQLite and parsed from PostgreSQL. */
const json = <T>(value: unknown): T => (typeof value === 'string' ? (JSON.parse(value) as T) : (value as T));
/** Datetime columns come back as epoch milliseconds from SQLite and as a Date from PostgreSQL. */
const date = (value: unknown): Date => (value instanceof Date ? value : new Date(Number(value)));

interface TargetDeviceRow {
  readonly id: string;
  readonly tenant_id: string | null;
  readonly device_group_id: string | null;
  readonly installed_images: unknown;
  readonly os_version: string | null;
}

/**
 * The devices of a batch of reports or look-ups, by primary key. Plain SQL (column names as in the migrations): the
 * ORM's find and entity building cost several times the query itself, once per batch of every fleet-wide update.
 */
export async function loadTargetDevices(em: EntityManager, deviceIds: readonly string[]): Promise<Map<string, TargetDevice>> {
  const devices = new Map<string, TargetDevice>();
  for (const part of chunks(deviceIds, READ_CHUNK)) {
    const rows: TargetDeviceRow[] = await em
      .getConnection()
      .execute(`select id, tenant_id, device_group_id, installed_images, os_version from device where id in (${placeholders(part.length)})`, part, 'all');
    for (const r of rows) {
      devices.set(r.id, { id: r.id, tenant: r.tenant_id, deviceGroup: r.device_group_id, installedImages: json<InstalledImageView[] | null>(r.installed_images), osVersion: r.os_version });
    }
  }
  return devices;
}

interface DeploymentDeviceRow {
  readonly id: string;
  readonly device_id: string;
  readonly admitted: unknown;
  readonly state: TargetRow['state'];
  readonly reason: string | null;
  readonly image_states: unknown;
  readonly updated_at: unknown;
}

/** Several devices' existing rows of a deployment, as plain rows (like loadTargetDevices). */
async function existingRows(em: EntityManager, deploymentId: string, deviceIds: readonly string[]): Promise<Map<string, TargetRow>> {
  const found = new Map<string, TargetRow>();
  for (const part of chunks(deviceIds, READ_CHUNK)) {
    const rows: DeploymentDeviceRow[] = await em
      .getConnection()
      .execute(
        `select id, device_id, admitted, state, reason, image_states, updated_at from deployment_device where deployment_id = ? and device_id in (${placeholders(part.length)})`,
        [deploymentId, ...part],
        'all',
      );
    for (const r of rows) {
      found.set(r.device_id, {
        id: r.id,
        device: r.device_id,
        // SQLite answers 0/1, PostgreSQL a boolean.
        admitted: Number(r.admitted) === 1,
        state: r.state,
        reason: r.reason,
        imageStates: json<Record<string, ImageUpdateState>>(r.image_states),
        updatedAt: date(r.updated_at),
      });
    }
  }
  return found;
}

/** The rows of several devices of a deployment: one query for those that exist, one insert for the others. */
export async function rowsFor(em: EntityManager, deployment: DeploymentEntity, deviceIds: readonly string[], now: Date): Promise<Map<string, TargetRow>> {
  const rows = await existingRows(em, deployment.id, deviceIds);
  const missing = deviceIds.filter((id) => !rows.has(id));
  if (missing.length === 0) return rows;
  await insertRows(em, deployment, missing, now);
  for (const [id, row] of await existingRows(em, deployment.id, missing)) rows.set(id, row);
  return rows;
}

const INSERT_CHUNK = 500;

/**
 * Makes the rows of devices that have none yet, a chunk per statement (a deployment to a whole group makes them
 * all at once). When another caller made one of them meanwhile, that chunk is made row by row (rowFor: the first
 * insert wins).
 */
export async function insertRows(em: EntityManager, deployment: DeploymentEntity, deviceIds: readonly string[], now: Date): Promise<void> {
  const admitted = deployment.rollout === null && deployment.state === 'ACTIVE';
  for (let i = 0; i < deviceIds.length; i += INSERT_CHUNK) {
    const chunk = deviceIds.slice(i, i + INSERT_CHUNK);
    try {
      await em.insertMany(
        DeploymentDevice,
        chunk.map((device) => ({
          id: newId(),
          deployment: deployment.id,
          device,
          admitted,
          wave: admitted ? 0 : null,
          admittedAt: admitted ? now : null,
          state: 'PENDING' as const,
          reason: null,
          imageStates: {},
          updatedAt: now,
        })),
      );
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
      for (const device of chunk) await rowFor(em, deployment, device, now);
    }
  }
}

/**
 * The device's row of a deployment, made on first need (a device that joined the group later). Several callers
 * may make the same row at once (the rollout driver, a status report, the deployment's creation): the first
 * insert wins and the others read its row.
 */
export async function rowFor(em: EntityManager, deployment: DeploymentEntity, deviceId: string, now: Date): Promise<DeploymentDeviceEntity> {
  const row = await em.findOne(DeploymentDevice, { deployment: deployment.id, device: deviceId });
  if (row) return row;
  const admitted = deployment.rollout === null && deployment.state === 'ACTIVE';
  try {
    await em.insert(DeploymentDevice, {
      id: newId(),
      deployment: deployment.id,
      device: deviceId,
      admitted,
      wave: admitted ? 0 : null,
      admittedAt: admitted ? now : null,
      state: 'PENDING',
      reason: null,
      imageStates: {},
      updatedAt: now,
    });
  } catch (e) {
    if (!isUniqueViolation(e)) throw e;
  }
  return em.findOneOrFail(DeploymentDevice, { deployment: deployment.id, device: deviceId });
}

/** The device's target: its group's (held by `groups`), and its own row of the group's deployment. */
export async function resolveTarget(em: EntityManager, device: TargetDevice, now: Date, groups: GroupTargets): Promise<ResolvedTarget> {
  if (!device.tenant || !device.deviceGroup) return NO_TARGET;
  const held = await groups.get(device.deviceGroup);
  if (!held) return NO_TARGET;
  return targetOf(held, device, held.deployment ? await rowFor(em, held.deployment, device.id, now) : null);
}

/** resolveTarget for many devices at once: one query for the devices, one per deployment for their rows. */
export async function resolveTargets(em: EntityManager, deviceIds: readonly string[], now: Date, groups: GroupTargets): Promise<Map<string, { device: TargetDevice; target: ResolvedTarget }>> {
  const devices = await loadTargetDevices(em, [...new Set(deviceIds)]);
  const held = new Map<string, GroupTarget>();
  const devicesOf = new Map<DeploymentEntity, string[]>();
  const ofGroup = new Map<string, GroupTarget | null>();
  for (const device of devices.values()) {
    if (!device.tenant || !device.deviceGroup) continue;
    let target = ofGroup.get(device.deviceGroup);
    if (target === undefined) ofGroup.set(device.deviceGroup, (target = await groups.get(device.deviceGroup)));
    if (!target) continue;
    held.set(device.id, target);
    if (target.deployment) devicesOf.set(target.deployment, [...(devicesOf.get(target.deployment) ?? []), device.id]);
  }
  const rows = new Map<string, TargetRow>();
  for (const [deployment, ids] of devicesOf) for (const [id, row] of await rowsFor(em, deployment, ids, now)) rows.set(id, row);
  const resolved = new Map<string, { device: TargetDevice; target: ResolvedTarget }>();
  for (const device of devices.values()) {
    const target = held.get(device.id);
    resolved.set(device.id, { device, target: target ? targetOf(target, device, rows.get(device.id) ?? null) : NO_TARGET });
  }
  return resolved;
}

function targetOf(held: GroupTarget, device: TargetDevice, row: TargetRow | null): ResolvedTarget {
  const { os, deployment } = held;
  // A tenant's images reach only its own devices.
  const deploymentImages = deployment && row?.admitted && held.group.tenant === device.tenant ? held.deploymentImages : [];
  // OS before applications; a deployment's own OS image (none today: OS images come from feeds) would follow.
  return { deployment, row, images: os ? [os, ...deploymentImages.filter((i) => i.id !== os.id)] : deploymentImages, deploymentImages };
}

/**
 * Stores rows whose state changed, in one transaction: rows that now hold the same values (a fleet mostly moves
 * to the same state together) are updated by one statement, instead of a change set per row. Plain SQL (column
 * names as in the migrations), like the reads: the ORM's update building cost more than the statements.
 */
export async function storeRowStates(em: EntityManager, rows: Iterable<TargetRow>): Promise<void> {
  const alike = new Map<string, { params: unknown[]; ids: string[] }>();
  for (const r of rows) {
    const imageStates = JSON.stringify(r.imageStates);
    const reason = r.reason ?? null;
    const key = JSON.stringify([imageStates, r.state, reason, r.updatedAt.getTime()]);
    const group = alike.get(key);
    if (group) group.ids.push(r.id);
    else alike.set(key, { params: [imageStates, r.state, reason, r.updatedAt], ids: [r.id] });
  }
  const statements = [...alike.values()].flatMap(({ params, ids }) =>
    chunks(ids, READ_CHUNK).map((part) => ({
      sql: `update deployment_device set image_states = ?, state = ?, reason = ?, updated_at = ? where id in (${placeholders(part.length)})`,
      params: [...params, ...part],
    })),
  );
  await executeTogether(em, statements, 'run');
}

/**
 * Re-derives the device's state in its deployment from what it reports installed: an image it runs is installed;
 * one it said it was installing or had installed but does not run (it restarted mid-install, or was reflashed) is
 * pending again. Failed and rejected stay until a new deployment. Returns true when the row changed.
 */
export function reconcileWithInstalled(row: TargetRow, images: readonly ImageEntity[], device: TargetDevice, now: Date): boolean {
  const installed = new Set((device.installedImages ?? []).map((i) => i.imageId.toLowerCase()));
  const next: Record<string, ImageUpdateState> = {};
  for (const image of images) {
    const previous = row.imageStates[image.id];
    if (installed.has(image.id)) next[image.id] = previous === 'ALREADY_INSTALLED' ? previous : 'INSTALLED';
    else if (previous === 'FAILED' || previous === 'REJECTED') next[image.id] = previous;
    else next[image.id] = 'PENDING';
  }
  const state = deviceStateOf(Object.values(next));
  const wasAhead = row.state === 'INSTALLING' || row.state === 'INSTALLED' || row.state === 'DOWNLOADING';
  const reason = state === 'PENDING' && wasAhead ? `the device reports it does not run ${images.filter((i) => !installed.has(i.id)).map((i) => i.id).join(', ')}` : state === 'PENDING' ? null : row.reason;
  const changed = JSON.stringify(next) !== JSON.stringify(row.imageStates) || state !== row.state || reason !== row.reason;
  if (changed) {
    row.imageStates = next;
    row.state = state;
    row.reason = reason;
    row.updatedAt = now;
  }
  return changed;
}
