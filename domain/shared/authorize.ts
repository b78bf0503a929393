import type { Actor, Role, UserActor } from './actor.js';
import { forbidden, unauthenticated } from './errors.js';

/**
 * Every permission the service knows. Roles follow Azure Sphere: Administrator does everything (keys, deletes,
 * revocation), Contributor claims and changes products/groups/deployments but deletes nothing, Reader reads.
 */
export const TENANT_PERMISSIONS = {
  'tenant.read': 'Reader',
  'apiKey.manage': 'Administrator',
  'product.write': 'Contributor',
  'device.claim': 'Contributor',
  'device.assign': 'Contributor',
  'device.revoke': 'Administrator',
  'ca.manage': 'Administrator',
  'image.allow': 'Administrator',
  'image.upload': 'Contributor',
  'signingKey.manage': 'Administrator',
  'deployment.write': 'Contributor',
  'deployment.resume': 'Administrator',
} as const satisfies Record<string, Role>;

export type TenantPermission = keyof typeof TENANT_PERMISSIONS;
export type PlatformPermission = 'tenant.create' | 'device.register' | 'os.register' | 'ca.sweep' | 'errors.purge' | 'os.publish' | 'rollout.drive';

const RANK: Record<Role, number> = { Reader: 0, Contributor: 1, Administrator: 2 };

/** Asserts a tenant user may do `permission`; returns the actor narrowed, whose tenantId scopes the call. */
export function authorizeTenant(actor: Actor | null, permission: TenantPermission): UserActor {
  if (!actor) throw unauthenticated();
  if (actor.kind !== 'user') throw forbidden('A tenant API key is required');
  if (RANK[actor.role] < RANK[TENANT_PERMISSIONS[permission]]) {
    throw forbidden(`Role ${actor.role} may not ${permission}`);
  }
  return actor;
}

/** Asserts the platform operator (or the service itself) is asking. */
export function authorizePlatform(actor: Actor | null, permission: PlatformPermission): void {
  if (!actor) throw unauthenticated();
  if (actor.kind !== 'platform' && actor.kind !== 'system') throw forbidden(`Only the platform operator may ${permission}`);
}
