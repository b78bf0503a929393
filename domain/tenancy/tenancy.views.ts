import type { ApiKeyView, TenantView } from '../views.js';
import type { ApiKeyEntity } from './api-key.entity.js';
import type { TenantEntity } from './tenant.entity.js';

export const toTenantView = (t: TenantEntity): TenantView => ({
  id: t.id,
  name: t.name,
  caCertificatePem: t.caCertificatePem,
  createdAt: t.createdAt,
});

/** Never carries the secret hash. */
export const toApiKeyView = (k: ApiKeyEntity): ApiKeyView => ({
  id: k.id,
  tenantId: k.tenant,
  name: k.name,
  role: k.role,
  createdAt: k.createdAt,
  revokedAt: k.revokedAt ?? null,
});
