import type { EntityData, EntityManager, FilterQuery } from '@mikro-orm/core';
import type { DevicesService } from '../services.js';
import type { Actor } from '../shared/actor.js';
import { authorizePlatform, authorizeTenant } from '../shared/authorize.js';
import { badInput, notFound } from '../shared/errors.js';
import { decodeCursor, encodeCursor, pageSize, type Page, type PageRequest } from '../shared/pagination.js';
import type { ServiceDeps } from '../shared/service-deps.js';
import { normalizeDeviceId, requireBulkList, requireDeviceId, requireOneOf, requireUuid } from '../shared/validation.js';
import { healthFilter } from '../certificates/certificate-health.js';
import { CERTIFICATE_HEALTH, type DeviceFilter, type DeviceResult, type DeviceView, type ManufactureResult } from '../views.js';
import { assignDevices } from './assign-devices.js';
import { claimDevices } from './claim-devices.js';
import { Device, type DeviceEntity } from './device.entity.js';
import { DEVICE_VIEW_FIELDS, toDeviceView, type DeviceViewField, type DeviceViewRow } from './device.views.js';
import { manufactureDevices } from './manufacture-devices.js';

/**
 * Driver rows hold columns as the database returns them: custom types (the installedImages JSON, text on SQLite)
 * are converted here as entity hydration would convert them.
 */
function plainRows(em: EntityManager, rows: ReadonlyArray<EntityData<DeviceEntity>>): DeviceViewRow[] {
  const platform = em.getPlatform();
  const custom = em.getMetadata().find(Device.meta.className)?.props.filter((p) => p.customType !== undefined) ?? [];
  return rows.map((row) => {
    const plain: Record<string, unknown> = { ...row };
    for (const prop of custom) if (prop.name in plain) plain[prop.name] = prop.customType?.convertToJSValue(plain[prop.name], platform);
    return plain as DeviceViewRow;
  });
}

export function createDevicesService(deps: ServiceDeps): DevicesService {
  const log = deps.log.child({ service: 'devices' });

  return {
    async manufactureDevices(actor: Actor | null, csrPems: readonly string[]): Promise<readonly ManufactureResult[]> {
      authorizePlatform(actor, 'device.register');
      requireBulkList('csrs', csrPems);
      const results = await manufactureDevices(deps.em.fork(), deps.pki, deps.clock.now(), csrPems);
      log.info({ requested: csrPems.length, registered: results.filter((r) => r.ok).length }, 'devices manufactured');
      return results;
    },

    async claimDevices(actor: Actor | null, deviceIds: readonly string[]): Promise<readonly DeviceResult[]> {
      const user = authorizeTenant(actor, 'device.claim');
      requireBulkList('deviceIds', deviceIds);
      const results = await claimDevices(deps.em.fork(), user.tenantId, deps.clock.now(), deviceIds);
      const claimed = results.filter((r) => r.ok && r.outcome === 'CLAIMED').length;
      log.info({ tenantId: user.tenantId, requested: deviceIds.length, claimed }, 'devices claimed');
      return results;
    },

    async assignDevices(actor: Actor | null, deviceIds: readonly string[], deviceGroupId: string): Promise<readonly DeviceResult[]> {
      const user = authorizeTenant(actor, 'device.assign');
      const groupId = requireUuid('deviceGroupId', deviceGroupId);
      requireBulkList('deviceIds', deviceIds);
      return assignDevices(deps.em.fork(), user.tenantId, groupId, deviceIds);
    },

    async listDevices(actor: Actor | null, filter: DeviceFilter, page: PageRequest): Promise<Page<DeviceView>> {
      const user = authorizeTenant(actor, 'tenant.read');
      const limit = pageSize(page);
      const where: FilterQuery<DeviceEntity> = { tenant: user.tenantId };
      if (filter.productId != null) where.product = requireUuid('productId', filter.productId);
      if (filter.deviceGroupId != null) where.deviceGroup = requireUuid('deviceGroupId', filter.deviceGroupId);
      if (typeof filter.online === 'boolean') where.online = filter.online;
      const scoped: FilterQuery<DeviceEntity> =
        filter.certificateHealth != null
          ? { $and: [where, healthFilter(requireOneOf('certificateHealth', CERTIFICATE_HEALTH, filter.certificateHealth), deps.clock.now())] }
          : where;
      let after: string | null = null;
      if (page.after != null) {
        after = normalizeDeviceId(decodeCursor(page.after));
        if (!after) throw badInput('after', 'malformed cursor');
      }

      const em = deps.em.fork();
      const [totalCount, rows] = await Promise.all([
        em.count(Device, scoped),
        // Read-only rows straight from the driver: making and registering entities (identity map, property
        // accessors) cost more than the query itself, and a listing never writes back. One extra row tells
        // whether another page follows.
        em.getDriver().find<DeviceEntity, never, DeviceViewField>(Device.meta.className, after ? { $and: [scoped, { id: { $gt: after } }] } : scoped, {
          fields: DEVICE_VIEW_FIELDS,
          orderBy: { id: 'asc' },
          limit: limit + 1,
        }),
      ]);
      const now = deps.clock.now();
      const items = plainRows(em, rows.slice(0, limit)).map((d) => toDeviceView(d, now));
      const last = items.at(-1);
      return { items, totalCount, hasNextPage: rows.length > limit, endCursor: last ? encodeCursor(last.id) : null };
    },

    async getDevice(actor: Actor | null, deviceId: string): Promise<DeviceView> {
      const user = authorizeTenant(actor, 'tenant.read');
      const id = requireDeviceId('deviceId', deviceId);
      const device = await deps.em.fork().findOne(Device, { id, tenant: user.tenantId });
      if (!device) throw notFound('Device', id);
      return toDeviceView(device, deps.clock.now());
    },
  };
}
