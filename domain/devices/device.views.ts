import type { DeviceView } from '../views.js';
import type { DeviceEntity } from './device.entity.js';

export const toDeviceView = (d: DeviceEntity): DeviceView => ({
  id: d.id,
  tenantId: d.tenant ?? null,
  productId: d.product ?? null,
  deviceGroupId: d.deviceGroup ?? null,
  claimedAt: d.claimedAt ?? null,
  manufacturedAt: d.manufacturedAt,
  status: {
    online: d.online,
    lastSeenAt: d.lastSeenAt ?? null,
    connectedSince: d.connectedSince ?? null,
    connectionSeq: d.connectionSeq,
    remoteAddress: d.remoteAddress ?? null,
    osVersion: d.osVersion ?? null,
    uptimeSeconds: d.uptimeSeconds ?? null,
    installedImages: d.installedImages ?? [],
    statusReportedAt: d.statusReportedAt ?? null,
  },
  identityCertificate: {
    serialNumber: d.certificateSerialNumber,
    notBefore: d.certificateNotBefore,
    notAfter: d.certificateNotAfter,
    subject: d.certificateSubject,
    issuer: d.certificateIssuer,
    sha256Thumbprint: d.certificateSha256,
  },
});
