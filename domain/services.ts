/**
 * The domain's public surface: what transports (server/, broker/) may call. Every call takes the Actor and runs
 * its own unit of work (a forked EntityManager). Tenant scoping happens here, never in a transport: a resource
 * of another tenant is NOT_FOUND.
 */
import type { Actor } from './shared/actor.js';
import type { Page, PageRequest } from './shared/pagination.js';
import type { Role } from './shared/actor.js';
import type {
  Admission,
  ApiKeyView,
  ConnectionInfo,
  AllowedImageView,
  AttestationEvidence,
  AttestationOutcome,
  DeviceFilter,
  DeviceGroupView,
  DeviceResult,
  DeviceStatusReport,
  DeviceView,
  IssuedApiKey,
  ManufactureResult,
  OsFeed,
  OsReleaseView,
  TenantCaView,
  ProductView,
  TenantView,
  UpdatePolicy,
  ErrorIngestResult,
  ErrorReportBatch,
  ErrorReportFilter,
  ErrorReportView,
  ErrorSummary,
  ErrorSummaryGroupBy,
  IssueFilter,
  IssueSort,
  IssueView,
  TimeBucket,
  DeploymentDeviceView,
  DeploymentView,
  DeviceTarget,
  DeviceUpdateView,
  ImageInput,
  ImageView,
  IssuedSigningKey,
  OsFeedReleaseView,
  SigningKeyView,
  UpdateReport,
} from './views.js';
import type { RolloutPolicy } from './deployments/rollout.js';
import type { DeviceViewPart, PartialDeviceView } from './devices/device.views.js';

export interface TenancyService {
  /**
   * Platform only. Creates the tenant, its CA, a first Administrator key and a first image signing key (its private
   * key returned once). Name 1..50, unique (case-insensitive).
   */
  createTenant(actor: Actor | null, input: { name: string }): Promise<{ tenant: TenantView; adminKey: IssuedApiKey; signingKey: IssuedSigningKey }>;
  /** The caller's own tenant. */
  currentTenant(actor: Actor | null): Promise<TenantView>;
  createApiKey(actor: Actor | null, input: { name: string; role: Role }): Promise<IssuedApiKey>;
  revokeApiKey(actor: Actor | null, apiKeyId: string): Promise<ApiKeyView>;
  listApiKeys(actor: Actor | null): Promise<readonly ApiKeyView[]>;
  /**
   * Resolves a bearer token to an actor: the platform-admin key, or a tenant API key that is not revoked.
   * Unknown, malformed or revoked tokens give null (the edge answers UNAUTHENTICATED). Constant-time compare.
   */
  authenticate(token: string): Promise<Actor | null>;
}

export interface ProductsService {
  /** Contributor+. Also creates the five default device groups. */
  createProduct(actor: Actor | null, input: { name: string; description?: string | null }): Promise<ProductView>;
  listProducts(actor: Actor | null): Promise<readonly ProductView[]>;
  getProduct(actor: Actor | null, productId: string): Promise<ProductView>;
  createDeviceGroup(
    actor: Actor | null,
    input: { productId: string; name: string; description?: string | null; osFeed?: OsFeed | null; updatePolicy?: UpdatePolicy | null },
  ): Promise<DeviceGroupView>;
  updateDeviceGroup(
    actor: Actor | null,
    deviceGroupId: string,
    input: { name?: string | null; description?: string | null; osFeed?: OsFeed | null; updatePolicy?: UpdatePolicy | null },
  ): Promise<DeviceGroupView>;
  listDeviceGroups(actor: Actor | null, filter: { productId?: string | null }): Promise<readonly DeviceGroupView[]>;
  getDeviceGroup(actor: Actor | null, deviceGroupId: string): Promise<DeviceGroupView>;
}

export interface DevicesService {
  /** Platform only. Up to 1,000 CSRs; each signed by the manufacturing CA and registered. */
  manufactureDevices(actor: Actor | null, csrPems: readonly string[]): Promise<readonly ManufactureResult[]>;
  /** Contributor+. Up to 1,000 IDs. One-time and irreversible; per-device results. */
  claimDevices(actor: Actor | null, deviceIds: readonly string[]): Promise<readonly DeviceResult[]>;
  /** Contributor+. Moves claimed devices of the caller's tenant into one of its groups. */
  assignDevices(actor: Actor | null, deviceIds: readonly string[], deviceGroupId: string): Promise<readonly DeviceResult[]>;
  /** Tenant members. `parts`: what of each device to read (default: everything); the id is always there. */
  listDevices<P extends DeviceViewPart = DeviceViewPart>(actor: Actor | null, filter: DeviceFilter, page: PageRequest, parts?: readonly P[]): Promise<Page<PartialDeviceView<P>>>;
  getDevice(actor: Actor | null, deviceId: string): Promise<DeviceView>;
}

/** Broker-facing: the device's own view of itself. Never called with a tenant actor. */
export interface PresenceService {
  /** Is this device (its certificate by SHA-256 thumbprint) allowed in? */
  admit(deviceId: string, certificateSha256: string): Promise<Admission>;
  /** Records the connection, bumps the device's connection sequence and announces it online. */
  connected(deviceId: string, info: ConnectionInfo): Promise<{ connectionSeq: number }>;
  /** Records the disconnection unless a newer connection exists (late disconnects never overwrite). */
  disconnected(deviceId: string, connectionSeq: number): Promise<void>;
  /** Stores the device's self-reported status (OS version, installed images, uptime) and touches lastSeen. */
  reportStatus(deviceId: string, report: DeviceStatusReport): Promise<void>;
  /** Keep-alives seen: touches lastSeen of these devices, in one statement (the broker batches them). */
  touch(deviceIds: readonly string[]): Promise<void>;
  /** Start-up of a broker node: every device it held is offline now (a crash left them "online"). */
  resetNode(brokerNodeId: string): Promise<number>;
}

/**
 * Broker-facing: remote attestation and certificate issuance. Never called with a tenant actor; the broker has
 * already proved which device is asking (mutual TLS).
 */
export interface AttestationService {
  /**
   * A fresh single-use nonce bound to this device, valid `nonceTtlSeconds` (config, default 60). At most a few
   * unexpired nonces per device at once (RATE_LIMITED beyond). Throws NOT_FOUND for an unknown device.
   */
  challenge(deviceId: string): Promise<{ readonly nonce: string; readonly expiresAt: Date } | { readonly refused: 'RATE_LIMITED' }>;
  /**
   * Checks, in order: the statement parses and names this device; the nonce (issued to this device, unexpired,
   * never used; consumed whatever the outcome); the signature with the registered identity key; the CSR's own
   * signature (and that its key is not the identity key); not revoked; claimed; the measurements (OS release known
   * to the platform, every image allowed to the tenant). Then issues a certificate from the tenant's active CA,
   * records it (the previous one becomes SUPERSEDED), records the attestation on the device, and announces
   * CertificateChanged (ISSUED or RENEWED; ATTESTATION_FAILED or RENEWAL_FAILED on refusal).
   */
  attest(deviceId: string, evidence: AttestationEvidence): Promise<AttestationOutcome>;
}

/** Tenant- and platform-facing certificate management. */
export interface CertificatesService {
  /** Administrator. Revokes the device and all its certificates, re-signs the tenant's CRLs, announces REVOKED. */
  revokeDevice(actor: Actor | null, deviceId: string, reason: string): Promise<DeviceView>;
  /** Administrator. Lets the device in again; its old certificates stay revoked (it attests anew). */
  restoreDevice(actor: Actor | null, deviceId: string): Promise<DeviceView>;
  /** Reader+. Every CA of the caller's tenant, newest first. */
  listTenantCas(actor: Actor | null): Promise<readonly TenantCaView[]>;
  /** Reader+. PEM: every unexpired CA of the tenant (active first), then the platform root. */
  caCertificateChain(actor: Actor | null): Promise<string>;
  /**
   * Administrator. A successor CA that becomes active now; the old ones stay trusted until they expire. CONFLICT
   * when another rotation of the same CA wins a race.
   */
  rotateTenantCa(actor: Actor | null): Promise<TenantCaView>;
  /** Reader+. PEM certificate with CN = code, signed by the active tenant CA. Code: 1..64 of [A-Za-z0-9-]. */
  proofOfPossessionCertificate(actor: Actor | null, verificationCode: string): Promise<string>;
  /**
   * Public (relying parties): the tenant's current CRLs, one per unexpired CA, then the platform root's, PEM.
   * NOT_FOUND for an unknown tenant.
   */
  crls(tenantId: string): Promise<string>;
  /** Administrator. Allows a measurement (image ID + SHA-256) to the tenant's devices. Idempotent. */
  allowImage(actor: Actor | null, input: { componentId: string; imageId: string; sha256: string }): Promise<AllowedImageView>;
  listAllowedImages(actor: Actor | null): Promise<readonly AllowedImageView[]>;
  /** Platform only. An OS release devices may report. Idempotent. */
  registerOsRelease(actor: Actor | null, version: string): Promise<OsReleaseView>;
  listOsReleases(actor: Actor | null): Promise<readonly OsReleaseView[]>;
  /**
   * System (a timer): creates a successor for every tenant whose active CA expires within the rotation lead time,
   * active `caActivationDelaySeconds` later (activation needs no further step: the signer is always the newest CA
   * whose activeFrom has passed). Idempotent, also across processes (a CA has at most one recorded successor).
   * Returns how many successors it made.
   */
  rotateDueCas(actor: Actor | null): Promise<{ readonly created: number }>;
}

/** Crash and exit events from devices: stored from the broker, read by tenants, purged by a timer. */
export interface ErrorReportsService {
  /**
   * Broker-facing, before the PUBACK: stores a device's batch. Per event: refused (bad times, component or image
   * not known for the device), a duplicate (event ID stored before: not counted again), over the device's hourly
   * limit (counted in one row), or stored and, when unplanned, folded into its issue. NOT_FOUND for an unknown
   * device; FORBIDDEN for an unclaimed one.
   */
  report(deviceId: string, batch: ErrorReportBatch): Promise<ErrorIngestResult>;
  /** Reader+. Newest first (by the event's start time). */
  listErrorReports(actor: Actor | null, filter: ErrorReportFilter, page: PageRequest): Promise<Page<ErrorReportView>>;
  /** Reader+. Every matching report, newest first, read in pages (for the CSV download). Authorised on call. */
  exportErrorReports(actor: Actor | null, filter: ErrorReportFilter): Promise<AsyncIterable<ErrorReportView>>;
  /** Reader+. Counts by group and optional time bucket, plus what was counted but not stored. */
  errorSummary(actor: Actor | null, filter: ErrorReportFilter, groupBy: ErrorSummaryGroupBy, bucket: TimeBucket | null): Promise<ErrorSummary>;
  /** Reader+. */
  listIssues(actor: Actor | null, filter: IssueFilter, sort: IssueSort, page: PageRequest): Promise<Page<IssueView>>;
  getIssue(actor: Actor | null, issueId: string): Promise<IssueView>;
  /**
   * System (a timer on every node): deletes reports whose end time is past retention, if this node holds the
   * purge lease (ran: false otherwise). Idempotent.
   */
  purgeExpired(actor: Actor | null, holder: string): Promise<{ readonly ran: boolean; readonly deleted: number }>;
}

/** Signed image packages, signing keys and OS feeds. */
export interface ImagesService {
  /** Administrator (or the platform, for OS signing keys). Registers a P-256 public key (SPKI PEM). */
  registerSigningKey(actor: Actor | null, input: { name: string; publicKeyPem: string }): Promise<SigningKeyView>;
  /** Administrator (or the platform). A new key pair; the private key is returned once and not kept. */
  createSigningKey(actor: Actor | null, input: { name: string }): Promise<IssuedSigningKey>;
  /** Reader+ (or the platform): the caller's own keys. */
  listSigningKeys(actor: Actor | null): Promise<readonly SigningKeyView[]>;
  /**
   * Contributor+ (tenant images) or the platform (OS images). Checks the signature against the owner's signing
   * keys (BAD_USER_INPUT when none verifies it). The same component and payload hash are the same image
   * (created: false); the image waits for its payload (PENDING_UPLOAD).
   */
  createImage(actor: Actor | null, input: ImageInput): Promise<{ readonly image: ImageView; readonly created: boolean }>;
  /** Streams the payload to storage; it must be exactly the signed size and SHA-256. The image is then READY. */
  uploadPayload(actor: Actor | null, imageId: string, source: AsyncIterable<Uint8Array>): Promise<ImageView>;
  listImages(actor: Actor | null, filter: { componentId?: string | null; type?: string | null }): Promise<readonly ImageView[]>;
  /** The caller's image, or a platform OS image. */
  getImage(actor: Actor | null, imageId: string): Promise<ImageView>;
  /** Platform. Publishes an OS image to a feed; Retail only after RetailEval. Idempotent. */
  publishOsRelease(actor: Actor | null, imageId: string, feed: string): Promise<OsFeedReleaseView>;
  listOsFeedReleases(actor: Actor | null, feed: string | null): Promise<readonly OsFeedReleaseView[]>;
}

/** Deployments to device groups, staged rollouts, and what each device should run. */
export interface DeploymentsService {
  /**
   * Contributor+. Replaces the group's current deployment (its devices move to the new target). At most one image
   * per component; images of another tenant are NOT_FOUND. With a rollout policy, devices are admitted in waves.
   */
  createDeployment(actor: Actor | null, input: { deviceGroupId: string; imageIds: readonly string[]; rollout?: RolloutPolicy | null }): Promise<DeploymentView>;
  /** Reader+. The group's deployments, newest first (history included). */
  listDeployments(actor: Actor | null, deviceGroupId: string): Promise<readonly DeploymentView[]>;
  getDeployment(actor: Actor | null, deploymentId: string): Promise<DeploymentView>;
  deploymentDevices(actor: Actor | null, deploymentId: string, state: string | null, page: PageRequest): Promise<Page<DeploymentDeviceView>>;
  /** Contributor+. */
  haltDeployment(actor: Actor | null, deploymentId: string, reason: string | null): Promise<DeploymentView>;
  /** Administrator. Thresholds then judge only what happens after the resume. */
  resumeDeployment(actor: Actor | null, deploymentId: string): Promise<DeploymentView>;
  /** Administrator. Its devices get no further images from it. */
  cancelDeployment(actor: Actor | null, deploymentId: string): Promise<DeploymentView>;
  /** Reader+. What the device should run and how far it is. */
  deviceUpdate(actor: Actor | null, deviceId: string): Promise<DeviceUpdateView>;
  /** Broker-facing, after a status report: re-derives the device's state from what it runs; returns its target. */
  statusReported(deviceId: string): Promise<DeviceTarget>;
  /** Broker-facing: the device's target now (null for an unknown device). */
  targetFor(deviceId: string): Promise<DeviceTarget | null>;
  /** Broker-facing: a device's report on one image. Reports about a deployment no longer its own change nothing. */
  reportUpdate(deviceId: string, report: UpdateReport): Promise<void>;
  /** Download server: the image if it is in this device's target (so it may fetch it), else null. */
  downloadableImage(deviceId: string, imageId: string): Promise<ImageView | null>;
  /** System (a timer on every node): one rollout step for each active staged deployment, if this node holds the lease. */
  driveRollouts(actor: Actor | null, holder: string): Promise<{ readonly ran: boolean; readonly steps: number }>;
}

export interface Services {
  readonly tenancy: TenancyService;
  readonly products: ProductsService;
  readonly devices: DevicesService;
  readonly presence: PresenceService;
  readonly attestation: AttestationService;
  readonly certificates: CertificatesService;
  readonly errorReports: ErrorReportsService;
  readonly images: ImagesService;
  readonly deployments: DeploymentsService;
}
