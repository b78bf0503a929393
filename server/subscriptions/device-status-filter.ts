/** Which DeviceStatusChanged events one subscriber receives: its own tenant's, then its optional filter. */
import type { DeviceStatusChanged, DomainEvent } from '../../domain/events/events.js';

export interface DeviceStatusFilter {
  readonly deviceIds?: readonly string[] | null;
  readonly productId?: string | null;
  readonly deviceGroupId?: string | null;
}

export function deviceStatusMatcher(tenantId: string, filter: DeviceStatusFilter | null | undefined): (event: DomainEvent) => event is DeviceStatusChanged {
  const ids = filter?.deviceIds ? new Set(filter.deviceIds) : null;
  const productId = filter?.productId ?? null;
  const deviceGroupId = filter?.deviceGroupId ?? null;
  return (event): event is DeviceStatusChanged =>
    event.type === 'DeviceStatusChanged' &&
    // Tenant first and always: an unclaimed device's events (tenantId null) reach nobody.
    event.tenantId === tenantId &&
    (ids === null || ids.has(event.deviceId)) &&
    (productId === null || event.productId === productId) &&
    (deviceGroupId === null || event.deviceGroupId === deviceGroupId);
}
