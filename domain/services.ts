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
  DeviceFilter,
  DeviceGroupView,
  DeviceResult,
  DeviceStatusReport,
  DeviceView,
  IssuedApiKey,
  ManufactureResult,
  OsFeed,
  ProductView,
  TenantView,
  UpdatePolicy,
} from './views.js';

export interface TenancyService {
  /** Platform only. Creates the tenant, its CA and a first Administrator key. Name 1..50, unique (case-insensitive). */
  createTenant(actor: Actor | null, input: { name: string }): Promise<{ tenant: TenantView; adminKey: IssuedApiKey }>;
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
  listDevices(actor: Actor | null, filter: DeviceFilter, page: PageRequest): Promise<Page<DeviceView>>;
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
  /** Keep-alive seen: touches lastSeen (cheap, may be batched). */
  touch(deviceId: string): Promise<void>;
  /** Start-up of a broker node: every device it held is offline now (a crash left them "online"). */
  resetNode(brokerNodeId: string): Promise<number>;
}

export interface Services {
  readonly tenancy: TenancyService;
  readonly products: ProductsService;
  readonly devices: DevicesService;
  readonly presence: PresenceService;
}
