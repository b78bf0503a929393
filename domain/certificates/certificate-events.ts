import type { DeviceEntity } from '../devices/device.entity.js';
import type { CertificateChanged, CertificateEventKind } from '../events/events.js';

/** The CertificateChanged event about a device, scoped as every event is by the device's tenant, product and group. */
export function certificateChanged(
  device: Pick<DeviceEntity, 'id' | 'tenant' | 'product' | 'deviceGroup'>,
  kind: CertificateEventKind,
  at: Date,
  extra: { readonly serialNumber?: string; readonly notAfter?: Date; readonly reason?: string | null } = {},
): CertificateChanged {
  return {
    type: 'CertificateChanged',
    kind,
    tenantId: device.tenant ?? null,
    deviceId: device.id,
    serialNumber: extra.serialNumber ?? null,
    notAfter: extra.notAfter?.toISOString() ?? null,
    reason: extra.reason ?? null,
    at: at.toISOString(),
    productId: device.product ?? null,
    deviceGroupId: device.deviceGroup ?? null,
  };
}
