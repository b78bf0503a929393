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
import {
  columnsFor,
  DEVICE_VIEW_PARTS,
  toDeviceView,
  toPartialDeviceView,
  type DeviceViewField,
  type DeviceViewPart,
  type DeviceViewRow,
  type PartialDeviceView,
} from './device.views.js';
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

/** The device table's quoted names, from the entity's metadata (the same on every database). */
interface DeviceTable {
  readonly table: string;
  readonly column: (field: DeviceViewField) => string;
}

function deviceTableOf(em: EntityManager): DeviceTable {
  const platform = em.getPlatform();
  const meta = em.getMetadata().get<DeviceEntity>(Device.meta.className);
  return {
    table: platform.quoteIdentifier(meta.tableName),
    column: (field) => {
      const name = meta.properties[field].fieldNames[0];
      if (!name) throw new Error(`Device.${field} has no column`);
      return platform.quoteIdentifier(name);
    },
  };
}

/**
 * The listing without a health filter, as two plain statements: building them through the ORM's query builder
 * (criteria processing, aliasing, knex compilation) costs several times what SQLite takes to answer them. Only
 * equality on indexed columns and the keyset condition, all values bound as parameters.
 */
async function listPlain(
  em: EntityManager,
  t: DeviceTable,
  conditions: ReadonlyArray<readonly [DeviceViewField, string | boolean]>,
  after: string | null,
  fields: readonly DeviceViewField[],
  limit: number,
): Promise<{ totalCount: number; rows: Array<EntityData<DeviceEntity>> }> {
  const where = conditions.map(([field]) => `${t.column(field)} = ?`).join(' and ');
  const params = conditions.map(([, value]) => value);
  const connection = em.getConnection();
  const meta = em.getMetadata().get<DeviceEntity>(Device.meta.className);
  // The core Connection types its answer loosely; these statements answer rows of these shapes.
  const [counted, raw]: [Array<{ total: number | string }>, Array<EntityData<DeviceEntity>>] = await Promise.all([
    connection.execute(`select count(*) as total from ${t.table} where ${where}`, params),
    connection.execute(
      `select ${fields.map(t.column).join(', ')} from ${t.table} where ${where}${after ? ` and ${t.column('id')} > ?` : ''} order by ${t.column('id')} asc limit ?`,
      after ? [...params, after, limit + 1] : [...params, limit + 1],
    ),
  ]);
  const driver = em.getDriver();
  // PostgreSQL answers count(*) as a bigint string.
  return { totalCount: Number(counted[0]?.total ?? 0), rows: raw.map((row) => driver.mapResult<DeviceEntity>(row, meta) ?? {}) };
}

export function createDevicesService(deps: ServiceDeps): DevicesService {
  const log = deps.log.child({ service: 'devices' });
  let table: DeviceTable | null = null;

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

    async listDevices<P extends DeviceViewPart = DeviceViewPart>(
      actor: Actor | null,
      filter: DeviceFilter,
      page: PageRequest,
      parts: readonly P[] = DEVICE_VIEW_PARTS as readonly P[],
    ): Promise<Page<PartialDeviceView<P>>> {
      const user = authorizeTenant(actor, 'tenant.read');
      const limit = pageSize(page);
      // Tenant first: every statement below is scoped to the caller's tenant.
      const conditions: Array<readonly [DeviceViewField, string | boolean]> = [['tenant', user.tenantId]];
      if (filter.productId != null) conditions.push(['product', requireUuid('productId', filter.productId)]);
      if (filter.deviceGroupId != null) conditions.push(['deviceGroup', requireUuid('deviceGroupId', filter.deviceGroupId)]);
      if (typeof filter.online === 'boolean') conditions.push(['online', filter.online]);
      const health = filter.certificateHealth != null ? requireOneOf('certificateHealth', CERTIFICATE_HEALTH, filter.certificateHealth) : null;
      let after: string | null = null;
      if (page.after != null) {
        after = normalizeDeviceId(decodeCursor(page.after));
        if (!after) throw badInput('after', 'malformed cursor');
      }
      const fields = columnsFor(parts);

      const em = deps.em.fork();
      let found: { totalCount: number; rows: Array<EntityData<DeviceEntity>> };
      if (health === null) {
        found = await listPlain(em, (table ??= deviceTableOf(em)), conditions, after, fields, limit);
      } else {
        const where: FilterQuery<DeviceEntity> = Object.fromEntries(conditions);
        const scoped: FilterQuery<DeviceEntity> = { $and: [where, healthFilter(health, deps.clock.now())] };
        const [totalCount, rows] = await Promise.all([
          em.count(Device, scoped),
          // Read-only rows straight from the driver: making and registering entities (identity map, property
          // accessors) cost more than the query itself, and a listing never writes back.
          em.getDriver().find<DeviceEntity, never, DeviceViewField>(Device.meta.className, after ? { $and: [scoped, { id: { $gt: after } }] } : scoped, {
            fields,
            orderBy: { id: 'asc' },
            limit: limit + 1,
          }),
        ]);
        found = { totalCount, rows };
      }
      // One extra row tells whether another page follows.
      const { totalCount, rows } = found;
      const now = deps.clock.now();
      const items = plainRows(em, rows.slice(0, limit)).map((d) => toPartialDeviceView(d, parts, now));
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
