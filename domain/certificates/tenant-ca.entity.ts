import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Tenant } from '../tenancy/tenant.entity.js';

/**
 * One CA certificate of a tenant. A tenant has one at creation and one more per rotation; the one with the latest
 * `activeFrom` not in the future signs new device certificates, the others stay trusted until they expire. Each CA
 * keeps its own CRL (a CRL is signed by the issuer of the certificates it lists).
 */
export const TenantCa = defineEntity({
  name: 'TenantCa',
  tableName: 'tenant_ca',
  properties: {
    /** Upper-case hex. */
    serialNumber: p.string().length(64).primary(),
    tenant: p.manyToOne(Tenant).mapToPk(),
    certificatePem: p.text(),
    subject: p.string().length(500),
    notBefore: p.datetime(),
    notAfter: p.datetime(),
    sha1Thumbprint: p.string().length(40),
    sha256Thumbprint: p.string().length(64),
    /** When it becomes the signer of new device certificates. */
    activeFrom: p.datetime(),
    /**
     * The CA this one succeeds (null for a tenant's first). Unique: two processes rotating the same CA at once
     * cannot both record a successor; the loser's insert fails and it backs off.
     */
    successorOf: p.string().length(64).nullable().unique(),
    createdAt: p.datetime(),
    /** 0 until the first CRL is signed; increases with every CRL (RFC 5280 cRLNumber). */
    crlNumber: p.integer().default(0),
    crlPem: p.text().nullable(),
    crlNextUpdate: p.datetime().nullable(),
  },
  indexes: [{ properties: ['tenant', 'activeFrom'] }],
});

export type TenantCaEntity = InferEntity<typeof TenantCa>;
