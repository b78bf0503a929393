import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Device } from '../devices/device.entity.js';
import { DeviceGroup } from '../products/device-group.entity.js';
import { Tenant } from '../tenancy/tenant.entity.js';
import type { DeploymentState, DeviceUpdateState, ImageUpdateState, RolloutPolicy, ThresholdBaseline } from './rollout.js';

/**
 * A set of images for one device group. The newest is the group's current deployment; creating another supersedes
 * it (its devices move to the new target), and the old one is kept as history.
 */
export const Deployment = defineEntity({
  name: 'Deployment',
  tableName: 'deployment',
  properties: {
    id: p.uuid().primary(),
    tenant: p.manyToOne(Tenant).mapToPk(),
    deviceGroup: p.manyToOne(DeviceGroup).mapToPk(),
    imageIds: p.json<string[]>(),
    state: p.string().length(16).$type<DeploymentState>(),
    /** Why it halted (HALTED), or why it ended. */
    reason: p.string().length(500).nullable(),
    rollout: p.json<RolloutPolicy>().nullable(),
    /** Counts at the last resume: thresholds judge only what came after. */
    baseline: p.json<ThresholdBaseline>().nullable(),
    /** Index of the rollout wave being admitted (0-based). */
    wave: p.integer().default(0),
    createdAt: p.datetime(),
    endedAt: p.datetime().nullable(),
  },
  indexes: [{ properties: ['tenant', 'deviceGroup', 'createdAt'] }, { properties: ['state'] }],
});
export type DeploymentEntity = InferEntity<typeof Deployment>;

/**
 * One device's part in a deployment: whether the rollout admitted it yet, and its state as the device reports it
 * (per image, and summed up). A device that comes back without an image it reported installing is not installed.
 */
export const DeploymentDevice = defineEntity({
  name: 'DeploymentDevice',
  tableName: 'deployment_device',
  properties: {
    id: p.uuid().primary(),
    deployment: p.manyToOne(Deployment).mapToPk(),
    device: p.manyToOne(Device).mapToPk(),
    admitted: p.boolean(),
    wave: p.integer().nullable(),
    admittedAt: p.datetime().nullable(),
    state: p.string().length(16).$type<DeviceUpdateState>(),
    reason: p.string().length(200).nullable(),
    imageStates: p.json<Record<string, ImageUpdateState>>(),
    updatedAt: p.datetime(),
  },
  uniques: [{ properties: ['deployment', 'device'] }],
  indexes: [{ properties: ['deployment', 'admitted', 'state'] }, { properties: ['device'] }],
});
export type DeploymentDeviceEntity = InferEntity<typeof DeploymentDevice>;
