/**
 * What the domain hands to transports: plain, read-only values, never ORM entities (so server/ and broker/ stay
 * free of persistence details and cannot lazy-load across tenants).
 */
import type { Role } from './shared/actor.js';

export type OsFeed = 'Retail' | 'RetailEval';
export type UpdatePolicy = 'UpdateAll' | 'No3rdPartyAppUpdates';

export interface TenantView {
  readonly id: string;
  readonly name: string;
  readonly caCertificatePem: string;
  readonly createdAt: Date;
}

export interface ApiKeyView {
  readonly id: string;
  readonly tenantId: string;
  readonly name: string;
  readonly role: Role;
  readonly createdAt: Date;
  readonly revokedAt: Date | null;
}

/** Returned once, at creation: the only time the secret exists outside the caller's hands. */
export interface IssuedApiKey {
  readonly apiKey: ApiKeyView;
  readonly secret: string;
}

export interface ProductView {
  readonly id: string;
  readonly tenantId: string;
  readonly name: string;
  readonly description: string;
  readonly createdAt: Date;
}

export interface DeviceGroupView {
  readonly id: string;
  readonly tenantId: string;
  readonly productId: string;
  readonly name: string;
  readonly description: string;
  readonly osFeed: OsFeed;
  readonly updatePolicy: UpdatePolicy;
  readonly createdAt: Date;
}

export interface InstalledImageView {
  readonly componentId: string;
  readonly imageId: string;
  readonly name: string | null;
  readonly version: string | null;
}

export interface DeviceStatusView {
  readonly online: boolean;
  readonly lastSeenAt: Date | null;
  readonly connectedSince: Date | null;
  readonly connectionSeq: number;
  readonly remoteAddress: string | null;
  readonly osVersion: string | null;
  readonly uptimeSeconds: number | null;
  readonly installedImages: readonly InstalledImageView[];
  readonly statusReportedAt: Date | null;
}

export interface IdentityCertificateView {
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly subject: string;
  readonly issuer: string;
  readonly sha256Thumbprint: string;
}

export interface DeviceView {
  readonly id: string;
  /** Shown only to the owning tenant (and the platform). */
  readonly tenantId: string | null;
  readonly productId: string | null;
  readonly deviceGroupId: string | null;
  readonly claimedAt: Date | null;
  readonly manufacturedAt: Date;
  readonly status: DeviceStatusView;
  readonly identityCertificate: IdentityCertificateView;
}

export interface DeviceFilter {
  readonly productId?: string | null;
  readonly deviceGroupId?: string | null;
  readonly online?: boolean | null;
}

/** Per-device outcome of a bulk call: one bad ID never fails the batch. */
export type DeviceResult =
  | { readonly deviceId: string; readonly ok: true; readonly outcome: 'CLAIMED' | 'ALREADY_CLAIMED' | 'ASSIGNED' }
  | { readonly deviceId: string; readonly ok: false; readonly code: 'NOT_FOUND' | 'BAD_USER_INPUT' | 'CONFLICT'; readonly message: string };

export type ManufactureResult =
  | { readonly ok: true; readonly deviceId: string; readonly certificatePem: string }
  | { readonly ok: false; readonly index: number; readonly code: 'BAD_USER_INPUT' | 'CONFLICT'; readonly message: string };

/** What the broker learns when a device presents its certificate. */
export type Admission =
  | { readonly admitted: true; readonly tenantId: string | null }
  | { readonly admitted: false; readonly reason: 'UNREGISTERED' | 'REVOKED' | 'CERTIFICATE_MISMATCH' };

export interface ConnectionInfo {
  readonly remoteAddress: string | null;
  /** Which broker node holds the connection (so a restarted node can mark its devices offline). */
  readonly brokerNodeId: string;
}

export interface DeviceStatusReport {
  readonly osVersion: string;
  readonly uptimeSeconds: number;
  readonly installedImages: readonly InstalledImageView[];
}
