/** Who is asking. Every service call receives one; the one policy in authorize.ts decides what it may do. */
export const ROLES = ['Administrator', 'Contributor', 'Reader'] as const;
export type Role = (typeof ROLES)[number];

export type Actor =
  /** A tenant's API key. */
  | { readonly kind: 'user'; readonly tenantId: string; readonly role: Role; readonly apiKeyId: string }
  /** The platform operator (SPHEREGATE_ADMIN_KEY): creates tenants, registers manufactured devices. */
  | { readonly kind: 'platform' }
  /** A device authenticated by its certificate at the broker. tenantId is null until claimed. */
  | { readonly kind: 'device'; readonly deviceId: string; readonly tenantId: string | null }
  /** The service itself (sweeps, start-up work). */
  | { readonly kind: 'system' };

export type UserActor = Extract<Actor, { kind: 'user' }>;
