import { healthOf } from '../certificates/certificate-health.js';
import type { DeviceView } from '../views.js';
import type { DeviceEntity } from './device.entity.js';

/** The columns a DeviceView is made of (never the key or the PEM, which no view shows). */
export const DEVICE_VIEW_FIELDS = [
  'id',
  'tenant',
  'product',
  'deviceGroup',
  'claimedAt',
  'manufacturedAt',
  'online',
  'lastSeenAt',
  'connectedSince',
  'connectionSeq',
  'remoteAddress',
  'osVersion',
  'uptimeSeconds',
  'installedImages',
  'statusReportedAt',
  'certificateSerialNumber',
  'certificateNotBefore',
  'certificateNotAfter',
  'certificateSubject',
  'certificateIssuer',
  'certificateSha256',
  'tenantCertificateSerialNumber',
  'tenantCertificateNotBefore',
  'tenantCertificateNotAfter',
  'tenantCertificateRenewAfter',
  'lastAttestationAt',
  'lastAttestationResult',
  'lastAttestationReason',
  'revokedAt',
  'revocationReason',
] as const satisfies ReadonlyArray<keyof DeviceEntity>;

/** A device entity, or a plain row of DEVICE_VIEW_FIELDS read without making entities. */
export type DeviceViewRow = Pick<DeviceEntity, DeviceViewField>;
export type DeviceViewField = (typeof DEVICE_VIEW_FIELDS)[number];

/** `now` decides certificate health (EXPIRING, EXPIRED). */
export const toDeviceView = (d: DeviceViewRow, now: Date): DeviceView => ({
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
