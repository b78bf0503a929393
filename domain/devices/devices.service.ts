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
  partialDeviceViews,
  type DeviceViewField,
  type DeviceViewPart,
  type DeviceViewRow,
  type PartialDeviceView,
} from './device.views.js';
import { manufactureDevices } from './manufacture-devices.js';

/**
 * Driver rows hold columns as the database returns them: custom types (the installedImages JSON, text on SQLite)
 * are converted here as entity hydration would convert them. The rows are the driver's fresh objects, used once:
 * converted in place.
 */
function plainRows(em: EntityManager, rows: Array<EntityData<DeviceEntity>>): DeviceViewRow[] {
  const platform = em.getPlatform();
  const custom = em.getMetadata().find(Device.meta.className)?.props.filter((p) => p.customType !== undefined) ?? [];
  for (const row of rows) {
    const plain = row as Record<string, unknown>;
    for (const prop of custom) if (prop.name in plain) plain[prop.name] = prop.customType?.convertToJSValue(plain[prop.name], platform);
  }
  return rows as DeviceViewRow[];
}

/** The listing's statements for one shape of request: the page (with its total) and the total alone. */
interface ListingStatements {
  readonly page: string;
  readonly count: string;
}

/** The listing's SQL, with the device table's quoted names from the entity's metadata (the same on every database). */
interface DeviceTable {
  /** Made once per shape (filtered columns, keyset or not, columns read); values are bound, never part of it. */
  statementsFor(conditions: ReadonlyArray<readonly [DeviceViewField, unknown]>, keyset: boolean, fields: readonly DeviceViewField[]): ListingStatements;
}

/** The total's column in the listing's answer: no Device column is called so. */
const TOTAL_KEY = 'listing_total';

/** Shapes kept: filters × keyset × the field sets clients select are few; beyond this the cache starts over. */
const STATEMENT_CACHE_SIZE = 256;

function deviceTableOf(em: EntityManager): DeviceTable {
  const platform = em.getPlatform();
  const meta = em.getMetadata().get<DeviceEntity>(Device.meta.className);
  const table = platform.quoteIdentifier(meta.tableName);
  const column = (field: DeviceViewField): string => {
    const name = meta.properties[field].fieldNames[0];
    if (!name) throw new Error(`Device.${field} has no column`);
    return platform.quoteIdentifier(name);
  };
  const cache = new Map<string, ListingStatements>();
  return {
    statementsFor(conditions, keyset, fields) {
      const key = `${conditions.map(([field]) => field).join(',')}|${keyset}|${fields.join(',')}`;
      const known = cache.get(key);
      if (known) return known;
      const where = conditions.map(([field]) => `${column(field)} = ?`).join(' and ');
      const id = column('id');
      const statements = {
        page: `select ${fields.map(column).join(', ')}, (select count(*) from ${table} where ${where}) as ${TOTAL_KEY} from ${table} where ${where}${keyset ? ` and ${id} > ?` : ''} order by ${id} asc limit ?`,
        count: `select count(*) as total from ${table} where ${where}`,
      };
      if (cache.size >= STATEMENT_CACHE_SIZE) cache.clear();
      cache.set(key, statements);
      return statements;
    },
  };
}

/**
 * The listing without a health filter, as one plain statement: building it through the ORM's query builder
 * (criteria processing, aliasing, knex compilation) costs several times what the database takes to answer it.
 * Only equality on indexed columns and the keyset condition, every value bound as a parameter. The total rides
 * along as an uncorrelated subquery (evaluated once); only a page with no rows asks for it apart.
 */
async function listPlain(
  em: EntityManager,
  t: DeviceTable,
  conditions: ReadonlyArray<readonly [DeviceViewField, string | boolean]>,
  after: string | null,
  fields: readonly DeviceViewField[],
  limit: number,
): Promise<{ totalCount: number; rows: Array<EntityData<DeviceEntity>> }> {
  const params = conditions.map(([, value]) => value);
  const sql = t.statementsFor(conditions, after !== null, fields);
  const connection = em.getConnection();
  // The core Connection types its answer loosely: these statements answer rows of these shapes.
  const raw: Array<Record<string, unknown>> = await connection.execute(sql.page, [...params, ...params, ...(after ? [after] : []), limit + 1]);
  // PostgreSQL answers count(*) as a bigint string.
  let totalCount = Number(raw[0]?.[TOTAL_KEY] ?? 0);
  if (raw.length === 0) {
    const counted: Array<{ total: number | string }> = await connection.execute(sql.count, params);
    totalCount = Number(counted[0]?.total ?? 0);
  }
  const driver = em.getDriver();
  const meta = em.getMetadata().get<DeviceEntity>(Device.meta.className);
  // The total's column rides along into the mapped rows; views read only their own columns.
  const rows = raw.map((row) => driver.mapResult<DeviceEntity>(row, meta) ?? {});
  return { totalCount, rows };
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
      parts: readonly P[] = DEVICE_VIEW_PARTS as ReadonlyArray<DeviceViewPart> as readonly P[],
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

      let found: { totalCount: number; rows: Array<EntityData<DeviceEntity>> };
      if (health === null) {
        // No fork: nothing here touches an identity map, only the connection.
        found = await listPlain(deps.em, (table ??= deviceTableOf(deps.em)), conditions, after, fields, limit);
      } else {
        const em = deps.em.fork();
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
      const toView = partialDeviceViews(parts);
      const items = plainRows(deps.em, rows.slice(0, limit)).map((d) => toView(d, now));
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
