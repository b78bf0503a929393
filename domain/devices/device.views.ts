import { healthOf } from '../certificates/certificate-health.js';
import type { DeviceStatusView, DeviceView } from '../views.js';
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

/** One field of a device's status, for a listing that shows only some (`status` reads them all). */
export type DeviceStatusPart = `status.${keyof DeviceStatusView}`;

/** What a listing may be asked for besides the id (always there): DeviceView's top-level parts, or status fields. */
export type DeviceViewPart = Exclude<keyof DeviceView, 'id'> | DeviceStatusPart;

type StatusKeyOf<P> = P extends `status.${infer K extends keyof DeviceStatusView}` ? K : never;

/** A DeviceView with only some parts (a listing that reads only what its caller shows). */
export type PartialDeviceView<P extends DeviceViewPart> = Pick<DeviceView, 'id' | Extract<P, keyof DeviceView>> &
  ([StatusKeyOf<P>] extends [never] ? unknown : { readonly status: Pick<DeviceStatusView, StatusKeyOf<P>> });

interface PartSpec<K extends keyof DeviceView> {
  /** Every column build() reads: a row of just these (and id) builds the part exactly as the full row does. */
  readonly columns: readonly DeviceViewField[];
  readonly build: (d: DeviceViewRow, now: Date) => DeviceView[K];
}

/** Each status field alone, for listings that show only some of them. */
const STATUS: { readonly [K in keyof DeviceStatusView]: { readonly columns: readonly DeviceViewField[]; readonly build: (d: DeviceViewRow, now: Date) => DeviceStatusView[K] } } = {
  online: { columns: ['online'], build: (d) => d.online },
  lastSeenAt: { columns: ['lastSeenAt'], build: (d) => d.lastSeenAt ?? null },
  connectedSince: { columns: ['connectedSince'], build: (d) => d.connectedSince ?? null },
  connectionSeq: { columns: ['connectionSeq'], build: (d) => d.connectionSeq },
  remoteAddress: { columns: ['remoteAddress'], build: (d) => d.remoteAddress ?? null },
  osVersion: { columns: ['osVersion'], build: (d) => d.osVersion ?? null },
  uptimeSeconds: { columns: ['uptimeSeconds'], build: (d) => d.uptimeSeconds ?? null },
  installedImages: { columns: ['installedImages'], build: (d) => d.installedImages ?? [] },
  statusReportedAt: { columns: ['statusReportedAt'], build: (d) => d.statusReportedAt ?? null },
};
const STATUS_KEYS = Object.keys(STATUS) as ReadonlyArray<keyof DeviceStatusView>;

const PARTS: { readonly [K in Exclude<keyof DeviceView, 'id'>]: PartSpec<K> } = {
  tenantId: { columns: ['tenant'], build: (d) => d.tenant ?? null },
  productId: { columns: ['product'], build: (d) => d.product ?? null },
  deviceGroupId: { columns: ['deviceGroup'], build: (d) => d.deviceGroup ?? null },
  claimedAt: { columns: ['claimedAt'], build: (d) => d.claimedAt ?? null },
  manufacturedAt: { columns: ['manufacturedAt'], build: (d) => d.manufacturedAt },
  status: {
    columns: ['online', 'lastSeenAt', 'connectedSince', 'connectionSeq', 'remoteAddress', 'osVersion', 'uptimeSeconds', 'installedImages', 'statusReportedAt'],
    build: (d, now) => {
      const status: Partial<Record<keyof DeviceStatusView, unknown>> = {};
      for (const key of STATUS_KEYS) status[key] = STATUS[key].build(d, now);
      return status as DeviceStatusView;
    },
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

/** Every top-level part: a listing asked for these reads whole DeviceViews. */
export const DEVICE_VIEW_PARTS = Object.keys(PARTS) as ReadonlyArray<Exclude<keyof DeviceView, 'id'>>;
/** Every status field as a part of its own. */
export const DEVICE_STATUS_PARTS: readonly DeviceStatusPart[] = STATUS_KEYS.map((key) => `status.${key}` as const);

const statusKeyOf = (part: DeviceViewPart): keyof DeviceStatusView | null =>
  part.startsWith('status.') ? (part.slice('status.'.length) as keyof DeviceStatusView) : null;

/** The columns to read for these parts (the id first, each column once). */
export function columnsFor(parts: readonly DeviceViewPart[]): DeviceViewField[] {
  const columns = new Set<DeviceViewField>(['id']);
  for (const part of parts) {
    const statusKey = statusKeyOf(part);
    for (const column of statusKey ? STATUS[statusKey].columns : PARTS[part as keyof typeof PARTS].columns) columns.add(column);
  }
  return [...columns];
}

/**
 * Builds the views of these parts from rows holding at least columnsFor(parts). The other columns of
 * DeviceViewRow may be missing from a row: no part asked for reads them.
 */
export function partialDeviceViews<P extends DeviceViewPart>(parts: readonly P[]): (d: DeviceViewRow, now: Date) => PartialDeviceView<P> {
  const whole: Array<keyof typeof PARTS> = [];
  const statusKeys: Array<keyof DeviceStatusView> = [];
  for (const part of parts) {
    const statusKey = statusKeyOf(part);
    if (statusKey === null) whole.push(part as keyof typeof PARTS);
    else statusKeys.push(statusKey);
  }
  // The whole status, when asked for, already holds every status field.
  const fields = whole.includes('status') ? [] : statusKeys;
  return (d, now) => {
    const view: Record<string, unknown> = { id: d.id };
    for (const part of whole) view[part] = PARTS[part].build(d, now);
    if (fields.length > 0) {
      const status: Record<string, unknown> = {};
      for (const key of fields) status[key] = STATUS[key].build(d, now);
      view['status'] = status;
    }
    return view as PartialDeviceView<P>;
  };
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
