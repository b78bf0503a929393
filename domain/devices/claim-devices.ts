/**
 * Claiming binds a device to a tenant once and for ever. The conditional UPDATE (`... where tenant_id is null`) is
 * the arbiter: two tenants racing for a device can never both win, whatever they read before.
 */
import type { EntityManager } from '@mikro-orm/core';
import { chunks } from '../shared/persistence.js';
import { normalizeDeviceId } from '../shared/validation.js';
import type { DeviceResult } from '../views.js';
import { Device } from './device.entity.js';

/** The same words for "no such device" and "another tenant's device": claiming must not reveal ownership. */
export const NOT_CLAIMABLE = 'Device not found or not claimable';

export async function claimDevices(
  em: EntityManager,
  tenantId: string,
  now: Date,
  requested: readonly unknown[],
): Promise<DeviceResult[]> {
  const ids = requested.map(normalizeDeviceId);
  const unique = [...new Set(ids.filter((id): id is string => id !== null))].sort();

  const claimedNow = new Set<string>();
  const alreadyMine = new Set<string>();
  for (const part of chunks(unique, 500)) {
    const before = await ownedBy(em, tenantId, part);
    await em.nativeUpdate(Device, { id: { $in: part }, tenant: null }, { tenant: tenantId, claimedAt: now });
    const after = await ownedBy(em, tenantId, part);
    for (const id of after) (before.has(id) ? alreadyMine : claimedNow).add(id);
  }

  const reported = new Set<string>();
  return ids.map((id, i): DeviceResult => {
    if (id === null) {
      return { deviceId: String(requested[i]).slice(0, 200), ok: false, code: 'BAD_USER_INPUT', message: 'deviceId: must be 128 hexadecimal characters' };
    }
    if (claimedNow.has(id) && !reported.has(id)) {
      reported.add(id);
      return { deviceId: id, ok: true, outcome: 'CLAIMED' };
    }
    if (claimedNow.has(id) || alreadyMine.has(id)) return { deviceId: id, ok: true, outcome: 'ALREADY_CLAIMED' };
    return { deviceId: id, ok: false, code: 'NOT_FOUND', message: NOT_CLAIMABLE };
  });
}

async function ownedBy(em: EntityManager, tenantId: string, ids: readonly string[]): Promise<Set<string>> {
  const rows = await em.find(Device, { id: { $in: [...ids] }, tenant: tenantId }, { fields: ['id'], disableIdentityMap: true });
  return new Set(rows.map((r) => r.id));
}
