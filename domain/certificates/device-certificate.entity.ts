import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Device } from '../devices/device.entity.js';
import { Tenant } from '../tenancy/tenant.entity.js';
import type { DeviceCertificateStatus } from '../views.js';

/**
 * Every device certificate a tenant CA issued after an attestation. ACTIVE: the device's newest. SUPERSEDED: an
 * older one, still valid for relying parties until it expires. REVOKED: withdrawn (listed in the CRL).
 */
export const DeviceCertificate = defineEntity({
  name: 'DeviceCertificate',
  tableName: 'device_certificate',
  properties: {
    serialNumber: p.string().length(64).primary(),
    device: p.manyToOne(Device).mapToPk(),
    tenant: p.manyToOne(Tenant).mapToPk(),
    issuerCaSerialNumber: p.string().length(64),
    sha256Thumbprint: p.string().length(64).unique(),
    notBefore: p.datetime(),
    notAfter: p.datetime(),
    issuedAt: p.datetime(),
    /** Issued to a device that already held an unexpired certificate. */
    renewal: p.boolean(),
    status: p.string().length(16).$type<DeviceCertificateStatus>(),
    revokedAt: p.datetime().nullable(),
  },
  indexes: [{ properties: ['device', 'status'] }, { properties: ['issuerCaSerialNumber', 'status'] }],
});

export type DeviceCertificateEntity = InferEntity<typeof DeviceCertificate>;
