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

/** What a listing may be asked for besides the id (always there): DeviceView's top-level parts. */
export type DeviceViewPart = Exclude<keyof DeviceView, 'id'>;

/** A DeviceView with only some parts (a listing that reads only what its caller shows). */
export type PartialDeviceView<P extends DeviceViewPart> = Pick<DeviceView, 'id' | P>;

interface PartSpec<K extends DeviceViewPart> {
  /** Every column build() reads: a row of just these (and id) builds the part exactly as the full row does. */
  readonly columns: readonly DeviceViewField[];
  readonly build: (d: DeviceViewRow, now: Date) => DeviceView[K];
}

const PARTS: { readonly [K in DeviceViewPart]: PartSpec<K> } = {
  tenantId: { columns: ['tenant'], build: (d) => d.tenant ?? null },
  productId: { columns: ['product'], build: (d) => d.product ?? null },
  deviceGroupId: { columns: ['deviceGroup'], build: (d) => d.deviceGroup ?? null },
  claimedAt: { columns: ['claimedAt'], build: (d) => d.claimedAt ?? null },
  manufacturedAt: { columns: ['manufacturedAt'], build: (d) => d.manufacturedAt },
  status: {
    columns: ['online', 'lastSeenAt', 'connectedSince', 'connectionSeq', 'remoteAddress', 'osVersion', 'uptimeSeconds', 'installedImages', 'statusReportedAt'],
    build: (d) => ({
      online: d.online,
      lastSeenAt: d.lastSeenAt ?? null,
      connectedSince: d.connectedSince ?? null,
      connectionSeq: d.connectionSeq,
      remoteAddress: d.remoteAddress ?? null,
      osVersion: d.osVersion ?? null,
      uptimeSeconds: d.uptimeSeconds ?? null,
      installedImages: d.installedImages ?? [],
      statusReportedAt: d.statusReportedAt ?? null,
    }),
  },
  identityCertificate: {
    columns: ['certificateSerialNumber', 'certificateNotBefore', 'certificateNotAfter', 'certificateSubject', 'certificateIssuer', 'certificateSha256'],
    build: (d) => ({
      serialNumber: d.certificateSerialNumber,
      notBefore: d.certificateNotBefore,
      notAfter: d.certificateNotAfter,
      subject: d.certificateSubject,
      issuer: d.certificateIssuer,
      sha256Thumbprint: d.certificateSha256,
    }),
  },
  certificate: {
    columns: ['tenantCertificateSerialNumber', 'tenantCertificateNotBefore', 'tenantCertificateNotAfter'],
    build: (d) =>
      d.tenantCertificateSerialNumber && d.tenantCertificateNotBefore && d.tenantCertificateNotAfter
        ? { serialNumber: d.tenantCertificateSerialNumber, notBefore: d.tenantCertificateNotBefore, notAfter: d.tenantCertificateNotAfter }
        : null,
  },
  lastAttestation: {
    columns: ['lastAttestationAt', 'lastAttestationResult', 'lastAttestationReason'],
    build: (d) =>
      d.lastAttestationAt && d.lastAttestationResult ? { at: d.lastAttestationAt, result: d.lastAttestationResult, reason: d.lastAttestationReason ?? null } : null,
  },
  certificateHealth: {
    columns: ['revokedAt', 'lastAttestationResult', 'tenantCertificateNotAfter', 'tenantCertificateRenewAfter'],
    build: (d, now) => healthOf(d, now),
  },
  revokedAt: { columns: ['revokedAt'], build: (d) => d.revokedAt ?? null },
  revocationReason: { columns: ['revocationReason'], build: (d) => d.revocationReason ?? null },
};

export const DEVICE_VIEW_PARTS = Object.keys(PARTS) as readonly DeviceViewPart[];

/** The columns to read for these parts (the id first, each column once). */
export function columnsFor(parts: readonly DeviceViewPart[]): DeviceViewField[] {
  const columns = new Set<DeviceViewField>(['id']);
  for (const part of parts) for (const column of PARTS[part].columns) columns.add(column);
  return [...columns];
}

/**
 * The view's parts from a row holding at least columnsFor(parts). The other columns of DeviceViewRow may be
 * missing from `d`: no part asked for reads them.
 */
export function toPartialDeviceView<P extends DeviceViewPart>(d: DeviceViewRow, parts: readonly P[], now: Date): PartialDeviceView<P> {
  const view: Record<string, unknown> = { id: d.id };
  for (const part of parts) view[part] = PARTS[part].build(d, now);
  return view as PartialDeviceView<P>;
}

/** `now` decides certificate health (EXPIRING, EXPIRED). */
export const toDeviceView = (d: DeviceViewRow, now: Date): DeviceView => ({
  id: d.id,
  tenantId: PARTS.tenantId.build(d, now),
  productId: PARTS.productId.build(d, now),
  deviceGroupId: PARTS.deviceGroupId.build(d, now),
  claimedAt: PARTS.claimedAt.build(d, now),
  manufacturedAt: PARTS.manufacturedAt.build(d, now),
  status: PARTS.status.build(d, now),
  identityCertificate: PARTS.identityCertificate.build(d, now),
  certificate: PARTS.certificate.build(d, now),
  lastAttestation: PARTS.lastAttestation.build(d, now),
  certificateHealth: PARTS.certificateHealth.build(d, now),
  revokedAt: PARTS.revokedAt.build(d, now),
  revocationReason: PARTS.revocationReason.build(d, now),
});
