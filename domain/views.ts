/**
 * What the domain hands to transports: plain, read-only values, never ORM entities (so server/ and broker/ stay
 * free of persistence details and cannot lazy-load across tenants).
 */
import type { ErrorCategory, ErrorEventClass, ErrorEventType } from './error-reports/error-categories.js';
import type { DeploymentState, DeviceUpdateState, ImageUpdateState, RolloutPolicy } from './deployments/rollout.js';
import type { ImageStatus, ImageType, OsFeedName } from './images/image-types.js';
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

/** The device's newest tenant-issued certificate. */
export interface DeviceCertificateView {
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export type DeviceCertificateStatus = 'ACTIVE' | 'SUPERSEDED' | 'REVOKED';

export interface AttestationView {
  readonly at: Date;
  readonly result: 'SUCCEEDED' | 'FAILED';
  /** Refusal reason (contract ATTESTATION_REFUSALS) and detail; null on success. */
  readonly reason: string | null;
}

/**
 * One word for "can this device be trusted by a relying party right now", first match wins:
 * REVOKED (revoked by an Administrator) > ATTESTATION_FAILED (its last attestation was refused) > NEVER_ISSUED
 * (no certificate yet) > EXPIRED > EXPIRING (past 80 % of its lifetime, the latest point a healthy device renews at) > OK.
 */
export const CERTIFICATE_HEALTH = ['OK', 'EXPIRING', 'EXPIRED', 'ATTESTATION_FAILED', 'REVOKED', 'NEVER_ISSUED'] as const;
export type CertificateHealth = (typeof CERTIFICATE_HEALTH)[number];

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
  readonly certificate: DeviceCertificateView | null;
  readonly lastAttestation: AttestationView | null;
  readonly certificateHealth: CertificateHealth;
  readonly revokedAt: Date | null;
  readonly revocationReason: string | null;
}

export interface DeviceFilter {
  readonly productId?: string | null;
  readonly deviceGroupId?: string | null;
  readonly online?: boolean | null;
  readonly certificateHealth?: CertificateHealth | null;
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

export type TenantCaStatus = 'Active' | 'Inactive' | 'Expired' | 'Revoked';

/** One of a tenant's CA certificates, as Azure Sphere lists them. */
export interface TenantCaView {
  readonly serialNumber: string;
  readonly status: TenantCaStatus;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly subject: string;
  readonly sha1Thumbprint: string;
  readonly sha256Thumbprint: string;
  readonly certificatePem: string;
  /** When it became (or becomes) the CA that signs new device certificates. */
  readonly activeFrom: Date;
}

/** A measurement (image ID + package hash) a tenant allows its devices to run, until deployments say more. */
export interface AllowedImageView {
  readonly componentId: string;
  readonly imageId: string;
  readonly sha256: string;
  readonly createdAt: Date;
}

export interface OsReleaseView {
  readonly version: string;
  readonly registeredAt: Date;
}

/** What the device asked to prove itself with (decoded from the MQTT contract by the broker). */
export interface AttestationEvidence {
  /** The exact bytes the device signed (UTF-8 JSON of an AttestationStatement). */
  readonly statement: Uint8Array;
  /** ECDSA P-256 / SHA-256, IEEE P1363 (r || s). */
  readonly signature: Uint8Array;
}

export type AttestationOutcome =
  | {
      readonly ok: true;
      readonly certificatePem: string;
      /** Issuing tenant CA, then the platform root. */
      readonly chainPem: string;
      readonly serialNumber: string;
      readonly notBefore: Date;
      readonly notAfter: Date;
    }
  | { readonly ok: false; readonly reason: AttestationRefusalReason; readonly message: string };

/** Mirrors contract ATTESTATION_REFUSALS (the domain does not import the contract; a test keeps them equal). */
export type AttestationRefusalReason =
  | 'BAD_STATEMENT'
  | 'NONCE_INVALID'
  | 'NONCE_EXPIRED'
  | 'NONCE_REPLAYED'
  | 'BAD_SIGNATURE'
  | 'BAD_CSR'
  | 'MEASUREMENT_NOT_ALLOWED'
  | 'DEVICE_UNCLAIMED'
  | 'DEVICE_REVOKED'
  | 'RATE_LIMITED';

/** One event as the broker hands it over (already schema-checked against the MQTT contract). */
export interface ErrorEventInput {
  readonly eventId: string;
  readonly category: ErrorCategory;
  readonly componentId: string | null;
  readonly imageId: string | null;
  readonly exitCode: number | null;
  readonly signal: number | null;
  readonly description: string | null;
  readonly count: number;
  readonly startTime: Date;
  readonly endTime: Date;
}

export interface ErrorReportBatch {
  readonly events: readonly ErrorEventInput[];
  /** The device's running total of events it dropped itself (queue full); null when it did not say. */
  readonly droppedTotal: number | null;
}

/** What became of a batch: each event is stored, a duplicate of one stored before, over the rate limit, or refused. */
export interface ErrorIngestResult {
  readonly stored: number;
  readonly duplicates: number;
  readonly rateLimited: number;
  readonly refused: readonly { readonly eventId: string; readonly reason: string }[];
}

export interface ErrorReportView {
  readonly id: string;
  readonly eventId: string;
  readonly tenantId: string;
  readonly deviceId: string;
  readonly productId: string | null;
  readonly deviceGroupId: string | null;
  readonly eventType: ErrorEventType;
  readonly eventClass: ErrorEventClass;
  readonly category: ErrorCategory;
  readonly count: number;
  readonly description: string;
  readonly exitCode: number | null;
  readonly signal: number | null;
  readonly componentId: string | null;
  readonly imageId: string | null;
  readonly startTime: Date;
  readonly endTime: Date;
  readonly receivedAt: Date;
  readonly issueId: string | null;
}

/** Every field optional; `from` (inclusive) and `to` (exclusive) bound the event's start time. */
export interface ErrorReportFilter {
  readonly productId?: string | null;
  readonly deviceGroupId?: string | null;
  readonly deviceId?: string | null;
  readonly category?: ErrorCategory | null;
  readonly eventClass?: ErrorEventClass | null;
  readonly eventType?: ErrorEventType | null;
  readonly componentId?: string | null;
  readonly imageId?: string | null;
  readonly from?: Date | null;
  readonly to?: Date | null;
}

export const ERROR_SUMMARY_GROUPS = ['NONE', 'CATEGORY', 'COMPONENT', 'IMAGE', 'PRODUCT', 'DEVICE_GROUP', 'DEVICE'] as const;
export type ErrorSummaryGroupBy = (typeof ERROR_SUMMARY_GROUPS)[number];
export const TIME_BUCKETS = ['HOUR', 'DAY'] as const;
export type TimeBucket = (typeof TIME_BUCKETS)[number];

export interface ErrorSummaryRow {
  /** The group's value (a category, component ID, …); null for NONE, or for events without one (an OS event has no component). */
  readonly key: string | null;
  /** Start of the time bucket (UTC); null without bucketing. */
  readonly bucketStart: Date | null;
  /** Sum of the events' counts. */
  readonly eventCount: number;
  /** Stored reports (rows). */
  readonly reportCount: number;
  readonly deviceCount: number;
}

export interface ErrorSummary {
  readonly rows: readonly ErrorSummaryRow[];
  /** Events not stored because a device exceeded its rate limit, in the filter's time range (hour precision). */
  readonly rateLimitedCount: number;
  /** Events devices dropped themselves because their offline queue was full. */
  readonly droppedByDevicesCount: number;
}

export interface IssueView {
  readonly id: string;
  readonly tenantId: string;
  readonly category: ErrorCategory;
  readonly eventClass: ErrorEventClass;
  readonly componentId: string | null;
  readonly imageId: string | null;
  readonly exitCode: number | null;
  readonly signal: number | null;
  readonly firstSeen: Date;
  readonly lastSeen: Date;
  readonly eventCount: number;
  readonly deviceCount: number;
  /** The deployment the issue appeared after (its image came with it). */
  readonly deploymentId: string | null;
}

export interface IssueFilter {
  readonly category?: ErrorCategory | null;
  readonly componentId?: string | null;
  readonly imageId?: string | null;
  /** Only issues seen at or after this time. */
  readonly seenSince?: Date | null;
}

export const ISSUE_SORTS = ['DEVICE_COUNT', 'LAST_SEEN'] as const;
export type IssueSort = (typeof ISSUE_SORTS)[number];

export interface SigningKeyView {
  readonly id: string;
  /** null: a platform key (signs OS images). */
  readonly tenantId: string | null;
  readonly name: string;
  readonly publicKeyPem: string;
  readonly fingerprint: string;
  readonly createdAt: Date;
}

/** The private key is shown only here, once. */
export interface IssuedSigningKey {
  readonly signingKey: SigningKeyView;
  readonly privateKeyPem: string;
}

export interface ImageView {
  readonly id: string;
  /** null: a platform OS image. */
  readonly tenantId: string | null;
  readonly componentId: string;
  readonly name: string;
  readonly version: string;
  readonly type: ImageType;
  readonly sha256: string;
  readonly size: number;
  readonly signature: string;
  readonly signingKeyId: string;
  readonly status: ImageStatus;
  readonly createdAt: Date;
  readonly uploadedAt: Date | null;
}

export interface ImageInput {
  readonly componentId: string;
  readonly name: string;
  readonly version: string;
  readonly type: string;
  readonly sha256: string;
  readonly size: number;
  readonly signature: string;
}

export interface OsFeedReleaseView {
  readonly id: string;
  readonly feed: OsFeedName;
  readonly imageId: string;
  readonly version: string;
  readonly publishedAt: Date;
}

export interface DeploymentProgress {
  readonly total: number;
  readonly pending: number;
  readonly downloading: number;
  readonly installing: number;
  readonly installed: number;
  readonly failed: number;
  readonly rejected: number;
}

export interface DeploymentView {
  readonly id: string;
  readonly tenantId: string;
  readonly deviceGroupId: string;
  readonly imageIds: readonly string[];
  readonly state: DeploymentState;
  readonly reason: string | null;
  readonly rollout: RolloutPolicy | null;
  readonly wave: number;
  readonly createdAt: Date;
  readonly endedAt: Date | null;
  readonly progress: DeploymentProgress;
}

export interface DeploymentDeviceView {
  readonly deploymentId: string;
  readonly deviceId: string;
  readonly admitted: boolean;
  readonly wave: number | null;
  readonly state: DeviceUpdateState;
  readonly reason: string | null;
  readonly updatedAt: Date;
}

/** What a device should run (OS first), as the broker and the download server need it. */
export interface DeviceTarget {
  readonly deploymentId: string | null;
  readonly images: readonly ImageView[];
}

export interface DeviceUpdateView {
  readonly deploymentId: string | null;
  readonly targetImages: readonly ImageView[];
  /** NONE: no deployment has admitted the device. */
  readonly updateState: DeviceUpdateState | 'NONE';
}

export interface UpdateReport {
  readonly deploymentId: string | null;
  readonly imageId: string;
  readonly state: ImageUpdateState;
  readonly reason: string | null;
}
