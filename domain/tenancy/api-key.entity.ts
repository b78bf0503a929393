import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import type { Role } from '../shared/actor.js';
import { Tenant } from './tenant.entity.js';

/** A tenant's API key. Only the SHA-256 of the whole token is stored: a database leak gives no usable key. */
export const ApiKey = defineEntity({
  name: 'ApiKey',
  tableName: 'api_key',
  properties: {
    id: p.uuid().primary(),
    tenant: p.manyToOne(Tenant).mapToPk(),
    name: p.string().length(50),
    /**
     * One of ROLES, checked by the service. A plain string, not p.enum: MikroORM 6.6 misreads SQLite CHECK
     * constraints of three or more items, so the migrated schema would never match the metadata.
     */
    role: p.string().length(20).$type<Role>(),
    /** sha256(token) as lower-case hex. */
    secretHash: p.string().length(64),
    createdAt: p.datetime(),
    revokedAt: p.datetime().nullable(),
  },
  indexes: [{ properties: ['tenant', 'createdAt'] }],
});

export type ApiKeyEntity = InferEntity<typeof ApiKey>;
