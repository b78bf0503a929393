import { defineEntity, p, type InferEntity } from '@mikro-orm/core';

/** One organisation. Its devices, products and keys are invisible to every other tenant. */
export const Tenant = defineEntity({
  name: 'Tenant',
  tableName: 'tenant',
  properties: {
    id: p.uuid().primary(),
    name: p.string().length(50),
    /** Lower-cased name: tenant names are unique case-insensitively. */
    nameKey: p.string().length(50).unique(),
    caCertificatePem: p.text(),
    caSerialNumber: p.string().length(64),
    createdAt: p.datetime(),
  },
});

export type TenantEntity = InferEntity<typeof Tenant>;
