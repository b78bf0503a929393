/** Which CertificateChanged events one subscriber receives: its own tenant's, then its optional filter. */
import type { CertificateChanged, CertificateEventKind, DomainEvent } from '../../domain/events/events.js';

export interface CertificateEventFilter {
  readonly deviceIds?: readonly string[] | null;
  readonly productId?: string | null;
  readonly deviceGroupId?: string | null;
  readonly kinds?: readonly CertificateEventKind[] | null;
}

export function certificateEventMatcher(
  tenantId: string,
  filter: CertificateEventFilter | null | undefined,
): (event: DomainEvent) => event is CertificateChanged {
  const ids = filter?.deviceIds ? new Set(filter.deviceIds) : null;
  const kinds = filter?.kinds ? new Set(filter.kinds) : null;
  const productId = filter?.productId ?? null;
  const deviceGroupId = filter?.deviceGroupId ?? null;
  return (event): event is CertificateChanged =>
    event.type === 'CertificateChanged' &&
    // Tenant first and always: an unclaimed device's events (tenantId null) reach nobody.
    event.tenantId === tenantId &&
    (kinds === null || kinds.has(event.kind)) &&
    (ids === null || ids.has(event.deviceId)) &&
    (productId === null || event.productId === productId) &&
    (deviceGroupId === null || event.deviceGroupId === deviceGroupId);
}
