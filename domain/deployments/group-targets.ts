/**
 * What a device group's devices should run, as far as the group decides it: its OS feed's newest release and its
 * current deployment with the images the update policy lets through. Every device report, target push and download
 * needs it, yet it changes only when a deployment is made, halted, resumed or ends, an OS release is published or
 * the group's settings change; so each process keeps it per group instead of re-reading five tables per report.
 *
 * Freshness: those changes made in this process drop the group's entry at once (invalidate); another node's
 * deployment changes reach here as its DeploymentProgressChanged (noteDeployment); anything else another node
 * changes (a release, a group's settings) is seen within MAX_AGE_MS. The entities held are snapshots, never
 * flushed: whoever changes a deployment loads it afresh.
 */
import type { EntityManager } from '@mikro-orm/core';
import { Image, OsFeedRelease, type ImageEntity } from '../images/image.entities.js';
import { DeviceGroup, type DeviceGroupEntity } from '../products/device-group.entity.js';
import type { ServiceDeps } from '../shared/service-deps.js';
import { Deployment, type DeploymentEntity } from './deployment.entities.js';

export interface GroupTarget {
  readonly group: DeviceGroupEntity;
  /** The feed's newest release's image, when it is READY. */
  readonly os: ImageEntity | null;
  /** The newest deployment that is active or halted. */
  readonly deployment: DeploymentEntity | null;
  /** The deployment's images an admitted device gets (after the update policy), in the deployment's order. */
  readonly deploymentImages: readonly ImageEntity[];
}

/** Bounds how long another node's OS release or group edit can go unseen here. */
export const MAX_AGE_MS = 5_000;
/** Entries kept before the oldest are dropped (a group's entry is a few rows). */
const MAX_ENTRIES = 10_000;

/** The group's current deployment: the newest that is active or halted. */
export function currentDeployment(em: EntityManager, deviceGroupId: string): Promise<DeploymentEntity | null> {
  return em.findOne(Deployment, { deviceGroup: deviceGroupId, state: { $in: ['ACTIVE', 'HALTED'] } }, { orderBy: { createdAt: 'desc', id: 'desc' } });
}

export async function loadGroupTarget(em: EntityManager, groupId: string): Promise<GroupTarget | null> {
  const group = await em.findOne(DeviceGroup, { id: groupId });
  if (!group) return null;
  const [os, deployment] = await Promise.all([
    em.findOne(OsFeedRelease, { feed: group.osFeed }, { orderBy: { publishedAt: 'desc', id: 'desc' } }).then((release) => (release ? em.findOne(Image, { id: release.image, status: 'READY' }) : null)),
    currentDeployment(em, group.id),
  ]);
  let deploymentImages: ImageEntity[] = [];
  if (deployment) {
    const images = await em.find(Image, { id: { $in: deployment.imageIds }, tenant: group.tenant, status: 'READY' });
    deploymentImages = images
      .filter((i) => !(group.updatePolicy === 'No3rdPartyAppUpdates' && i.type === 'Application'))
      .sort((a, b) => deployment.imageIds.indexOf(a.id) - deployment.imageIds.indexOf(b.id));
  }
  return { group, os, deployment, deploymentImages };
}

interface Entry {
  readonly at: number;
  readonly value: Promise<GroupTarget | null>;
  settled?: GroupTarget | null;
}

export class GroupTargets {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly load: (groupId: string) => Promise<GroupTarget | null>,
    private readonly maxAgeMs: number = MAX_AGE_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The group's target; callers at once share one load. */
  get(groupId: string): Promise<GroupTarget | null> {
    const held = this.entries.get(groupId);
    if (held && this.now() - held.at < this.maxAgeMs) return held.value;
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    const entry: Entry = { at: this.now(), value: this.load(groupId) };
    this.entries.set(groupId, entry);
    entry.value.then(
      (target) => (entry.settled = target),
      () => {
        if (this.entries.get(groupId) === entry) this.entries.delete(groupId);
      },
    );
    return entry.value;
  }

  /** Something the group's target depends on changed (and is committed): the next get() reads it again. No group: all. */
  invalidate(groupId?: string): void {
    if (groupId === undefined) this.entries.clear();
    else this.entries.delete(groupId);
  }

  /** A deployment of the group was announced (maybe by another node): drops the entry unless it already agrees. */
  noteDeployment(groupId: string, deploymentId: string, state: string, wave: number): void {
    const held = this.entries.get(groupId);
    if (!held) return;
    const current = held.settled === undefined ? undefined : (held.settled?.deployment ?? null);
    const ended = state !== 'ACTIVE' && state !== 'HALTED';
    let agrees: boolean;
    if (current === undefined) agrees = false; // still loading: it may have read the database before the change
    else if (current?.id === deploymentId) agrees = current.state === state && current.wave === wave;
    else agrees = ended; // another deployment's end changes nothing here; a new current one does
    if (!agrees) this.entries.delete(groupId);
  }
}

/** One cache per set of services (createServices builds them all from one deps), shared by the services that change what it holds. */
const perServices = new WeakMap<ServiceDeps, GroupTargets>();

export function groupTargetsOf(deps: ServiceDeps): GroupTargets {
  let targets = perServices.get(deps);
  if (!targets) {
    targets = new GroupTargets((groupId) => loadGroupTarget(deps.em.fork(), groupId));
    perServices.set(deps, targets);
  }
  return targets;
}
