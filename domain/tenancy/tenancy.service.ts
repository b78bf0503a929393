import type { EntityManager } from '@mikro-orm/core';
import type { TenancyService } from '../services.js';
import { FIRST_SIGNING_KEY_NAME, newSigningKey, toSigningKeyView } from '../images/signing-keys.js';
import { ROLES, type Actor, type Role, type UserActor } from '../shared/actor.js';
import { authorizePlatform, authorizeTenant } from '../shared/authorize.js';
import { conflict, notFound } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { isUniqueViolation } from '../shared/persistence.js';
import type { ServiceDeps } from '../shared/service-deps.js';
import { nameKeyOf, requireName, requireOneOf, requireUuid } from '../shared/validation.js';
import type { ApiKeyView, IssuedApiKey, TenantView } from '../views.js';
import { ApiKey } from './api-key.entity.js';
import { hashToken, keyIdOfToken, newApiKeyToken, secretsEqual, tokenMatchesHash } from './api-key-token.js';
import { toApiKeyView, toTenantView } from './tenancy.views.js';
import { VerifiedKeys } from './verified-keys.js';
import { Tenant } from './tenant.entity.js';
import { tenantCaRow } from '../certificates/tenant-cas.js';

export const FIRST_ADMIN_KEY_NAME = 'Initial administrator key';

export function createTenancyService(deps: ServiceDeps): TenancyService {
  const log = deps.log.child({ service: 'tenancy' });
  const verified = new VerifiedKeys();

  /** Adds a key to the unit of work; the caller flushes. The token leaves this function once, to the caller. */
  function addApiKey(em: EntityManager, tenantId: string, name: string, role: Role): IssuedApiKey {
    const id = newId();
    const secret = newApiKeyToken(id);
    const key = em.create(ApiKey, {
      id,
      tenant: tenantId,
      name,
      role,
      secretHash: hashToken(secret),
      createdAt: deps.clock.now(),
      revokedAt: null,
    });
    return { apiKey: toApiKeyView(key), secret };
  }

  return {
    async createTenant(actor: Actor | null, input: { name: string }) {
      authorizePlatform(actor, 'tenant.create');
      const name = requireName('name', input.name);
      const nameKey = nameKeyOf(name);
      const em = deps.em.fork();
      const taken = () => conflict('A tenant with this name already exists', { field: 'name' });
      // Checked before the CA is made, so a duplicate name costs no key pair.
      if (await em.count(Tenant, { nameKey })) throw taken();

      const tenantId = newId();
      const ca = await deps.pki.createTenantCa(tenantId, name);
      try {
        return await em.transactional(async (tem) => {
          const tenant = tem.create(Tenant, {
            id: tenantId,
            name,
            nameKey,
            caCertificatePem: ca.certificatePem,
            caSerialNumber: ca.serialNumber,
            createdAt: deps.clock.now(),
          });
          tenantCaRow(tem, tenantId, ca, tenant.createdAt, tenant.createdAt);
          const adminKey = addApiKey(tem, tenantId, FIRST_ADMIN_KEY_NAME, 'Administrator');
          // The tenant's first image signing key; the private half is handed out here, once.
          const signing = newSigningKey(tem, tenantId, FIRST_SIGNING_KEY_NAME, tenant.createdAt);
          await tem.flush();
          log.info({ tenantId, apiKeyId: adminKey.apiKey.id, signingKeyId: signing.key.id }, 'tenant created');
          return {
            tenant: toTenantView(tenant),
            adminKey,
            signingKey: { signingKey: toSigningKeyView(signing.key), privateKeyPem: signing.privateKeyPem },
          };
        });
      } catch (e) {
        // A concurrent call took the name between the check and the insert.
        if (isUniqueViolation(e)) throw taken();
        throw e;
      }
    },

    async currentTenant(actor: Actor | null): Promise<TenantView> {
      const user = authorizeTenant(actor, 'tenant.read');
      const tenant = await deps.em.fork().findOne(Tenant, { id: user.tenantId });
      if (!tenant) throw notFound('Tenant', user.tenantId);
      return toTenantView(tenant);
    },

    async createApiKey(actor: Actor | null, input: { name: string; role: Role }): Promise<IssuedApiKey> {
      const user = authorizeTenant(actor, 'apiKey.manage');
      const name = requireName('name', input.name);
      const role = requireOneOf('role', ROLES, input.role);
      const em = deps.em.fork();
      const issued = addApiKey(em, user.tenantId, name, role);
      await em.flush();
      log.info({ tenantId: user.tenantId, apiKeyId: issued.apiKey.id, role }, 'API key created');
      return issued;
    },

    async revokeApiKey(actor: Actor | null, apiKeyId: string): Promise<ApiKeyView> {
      const user = authorizeTenant(actor, 'apiKey.manage');
      const id = requireUuid('id', apiKeyId);
      const em = deps.em.fork();
      const key = await em.findOne(ApiKey, { id, tenant: user.tenantId });
      if (!key) throw notFound('ApiKey', id);
      if (key.revokedAt) {
        // Perhaps revoked on another node while this one still remembers it verified.
        verified.forget(id);
        return toApiKeyView(key);
      }
      if (key.role === 'Administrator') {
        const activeAdmins = await em.count(ApiKey, { tenant: user.tenantId, role: 'Administrator', revokedAt: null });
        // Nothing can mint a tenant key without an Administrator key: revoking the last one strands the tenant.
        if (activeAdmins <= 1) throw conflict("Cannot revoke the tenant's last active Administrator key", { field: 'id' });
      }
      key.revokedAt = deps.clock.now();
      await em.flush();
      // From here on, no request on this node gets in with it (see VerifiedKeys for other nodes).
      verified.forget(id);
      log.info({ tenantId: user.tenantId, apiKeyId: id }, 'API key revoked');
      return toApiKeyView(key);
    },

    async listApiKeys(actor: Actor | null): Promise<readonly ApiKeyView[]> {
      const user = authorizeTenant(actor, 'apiKey.manage');
      const keys = await deps.em.fork().find(ApiKey, { tenant: user.tenantId }, { orderBy: { createdAt: 'asc', id: 'asc' } });
      return keys.map(toApiKeyView);
    },

    async authenticate(token: string): Promise<Actor | null> {
      if (typeof token !== 'string' || token.length === 0 || token.length > 1024) return null;
      if (deps.platformAdminKey.length > 0 && secretsEqual(token, deps.platformAdminKey)) return { kind: 'platform' };
      const keyId = keyIdOfToken(token);
      if (!keyId) return null;
      const tokenHash = hashToken(token);
      const remembered = verified.get(tokenHash, deps.clock.now().getTime());
      if (remembered) return remembered;
      const generation = verified.generation;
      const key = await deps.em.fork().findOne(ApiKey, { id: keyId });
      if (!key || !tokenMatchesHash(token, key.secretHash) || key.revokedAt) return null;
      const actor: UserActor = { kind: 'user', tenantId: key.tenant, role: key.role, apiKeyId: key.id };
      verified.remember(tokenHash, actor, deps.clock.now().getTime(), generation);
      return actor;
    },
  };
}
