import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Tenant } from '../tenancy/tenant.entity.js';

/** One device model. Its ID is immutable; its name is unique in the tenant, case-insensitively. */
export const Product = defineEntity({
  name: 'Product',
  tableName: 'product',
  properties: {
    id: p.uuid().primary(),
    tenant: p.manyToOne(Tenant).mapToPk(),
    name: p.string().length(50),
    nameKey: p.string().length(50),
    description: p.string().length(500),
    createdAt: p.datetime(),
  },
  uniques: [{ properties: ['tenant', 'nameKey'] }],
});

export type ProductEntity = InferEntity<typeof Product>;
