import { healthOf } from '../certificates/certificate-health.js';
import type { DeviceView } from '../views.js';
import type { DeviceEntity } from './device.entity.js';

/** `now` decides certificate health (EXPIRING, EXPIRED). */
export const toDeviceView = (d: DeviceEntity, now: Date): DeviceView => ({
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
  certificate:
    d.tenantCertificateSerialNumber && d.tenantCertificateNotBefore && d.tenantCertificateNotAfter
      ? { serialNumber: d.tenantCertificateSerialNumber, notBefore: d.tenantCertificateNotBefore, notAfter: d.tenantCertificateNotAfter }
      : null,
  lastAttestation:
    d.lastAttestationAt && d.lastAttestationResult
      ? { at: d.lastAttestationAt, result: d.lastAttestationResult, reason: d.lastAttestationReason ?? null }
      : null,
  certificateHealth: healthOf(d, now),
  revokedAt: d.revokedAt ?? null,
  revocationReason: d.revocationReason ?? null,
});
