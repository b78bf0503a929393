/** Moves claimed devices of the caller's tenant into one of its groups (the group's product comes along). */
import type { EntityManager } from '@mikro-orm/core';
import { notFound } from '../shared/errors.js';
import { chunks } from '../shared/persistence.js';
import { normalizeDeviceId } from '../shared/validation.js';
import type { DeviceResult } from '../views.js';
import { DeviceGroup } from '../products/device-group.entity.js';
import { Device } from './device.entity.js';

export async function assignDevices(
  em: EntityManager,
  tenantId: string,
  deviceGroupId: string,
  requested: readonly unknown[],
): Promise<DeviceResult[]> {
  const group = await em.findOne(DeviceGroup, { id: deviceGroupId, tenant: tenantId });
  if (!group) throw notFound('DeviceGroup', deviceGroupId);

  const ids = requested.map(normalizeDeviceId);
  const unique = [...new Set(ids.filter((id): id is string => id !== null))].sort();
  const assigned = new Set<string>();
  for (const part of chunks(unique, 500)) {
    // Scoped by tenant in the UPDATE itself: another tenant's device is never touched, and reads as not found.
    await em.nativeUpdate(Device, { id: { $in: part }, tenant: tenantId }, { deviceGroup: group.id, product: group.product });
    const rows = await em.find(Device, { id: { $in: part }, tenant: tenantId }, { fields: ['id'], disableIdentityMap: true });
    for (const r of rows) assigned.add(r.id);
  }

  return ids.map((id, i): DeviceResult => {
    if (id === null) {
      return { deviceId: String(requested[i]).slice(0, 200), ok: false, code: 'BAD_USER_INPUT', message: 'deviceId: must be 128 hexadecimal characters' };
    }
    if (assigned.has(id)) return { deviceId: id, ok: true, outcome: 'ASSIGNED' };
    return { deviceId: id, ok: false, code: 'NOT_FOUND', message: 'Device not found' };
  });
}
