import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import type { InstalledImageView } from '../views.js';
import { DeviceGroup } from '../products/device-group.entity.js';
import { Product } from '../products/product.entity.js';
import { Tenant } from '../tenancy/tenant.entity.js';

/**
 * A chip, registered at manufacture and bound to a tenant once by claiming. `product` mirrors the group's product
 * (groups never change product), so listing by product and announcing status need no join.
 */
export const Device = defineEntity({
  name: 'Device',
  tableName: 'device',
  properties: {
    /** 128 upper-case hex: the raw X||Y of the identity public key. */
    id: p.string().length(128).primary(),
    /** Uncompressed SEC1 point (04 || X || Y), upper-case hex. */
    publicKeyHex: p.string().length(130),
    certificatePem: p.text(),
    certificateSerialNumber: p.string().length(64),
    certificateNotBefore: p.datetime(),
    certificateNotAfter: p.datetime(),
    certificateSubject: p.string().length(500),
    certificateIssuer: p.string().length(500),
    /** SHA-256 of the identity certificate's DER, upper-case hex: what the broker compares at connect. */
    certificateSha256: p.string().length(64),
    manufacturedAt: p.datetime(),
    tenant: p.manyToOne(Tenant).mapToPk().nullable(),
    claimedAt: p.datetime().nullable(),
    product: p.manyToOne(Product).mapToPk().nullable(),
    deviceGroup: p.manyToOne(DeviceGroup).mapToPk().nullable(),
    /** Set by revocation; a revoked device is refused at the broker. */
    revokedAt: p.datetime().nullable(),
    revocationReason: p.string().length(500).nullable(),
    /** The newest tenant-issued device certificate (DeviceCertificate), denormalised so health is filterable. */
    tenantCertificateSerialNumber: p.string().length(64).nullable(),
    tenantCertificateNotBefore: p.datetime().nullable(),
    tenantCertificateNotAfter: p.datetime().nullable(),
    /** notBefore + 80 % of the lifetime: past it the certificate is EXPIRING (overdue for renewal). */
    tenantCertificateRenewAfter: p.datetime().nullable(),
    lastAttestationAt: p.datetime().nullable(),
    lastAttestationResult: p.string().length(16).$type<'SUCCEEDED' | 'FAILED'>().nullable(),
    lastAttestationReason: p.string().length(500).nullable(),
    online: p.boolean().default(false),
    lastSeenAt: p.datetime().nullable(),
    connectedSince: p.datetime().nullable(),
    /** Bumped on every connection: a disconnect carrying an older value is stale and ignored. */
    connectionSeq: p.integer().default(0),
    brokerNodeId: p.string().length(100).nullable(),
    remoteAddress: p.string().length(100).nullable(),
    osVersion: p.string().length(64).nullable(),
    uptimeSeconds: p.integer().nullable(),
    installedImages: p.json<InstalledImageView[]>().nullable(),
    statusReportedAt: p.datetime().nullable(),
    /** The device's own running total of error events it dropped (queue full), as last reported. */
    errorEventsDroppedTotal: p.integer().default(0),
  },
  indexes: [
    { properties: ['tenant', 'id'] },
    { properties: ['tenant', 'product', 'id'] },
    { properties: ['tenant', 'deviceGroup', 'id'] },
    { properties: ['tenant', 'online', 'id'] },
    { properties: ['brokerNodeId', 'online'] },
  ],
});

export type DeviceEntity = InferEntity<typeof Device>;
