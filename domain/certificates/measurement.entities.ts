import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Tenant } from '../tenancy/tenant.entity.js';

/** An OS release the platform knows: a device reporting any other OS version fails attestation. */
export const OsRelease = defineEntity({
  name: 'OsRelease',
  tableName: 'os_release',
  properties: {
    version: p.string().length(64).primary(),
    registeredAt: p.datetime(),
  },
});
export type OsReleaseEntity = InferEntity<typeof OsRelease>;

/**
 * A measurement a tenant allows its devices to run: image ID + SHA-256 of the package. Until deployments exist
 * (issue 4) this allow-list is the whole of "what this device may run" besides the OS.
 */
export const AllowedImage = defineEntity({
  name: 'AllowedImage',
  tableName: 'allowed_image',
  properties: {
    id: p.uuid().primary(),
    tenant: p.manyToOne(Tenant).mapToPk(),
    componentId: p.uuid(),
    imageId: p.uuid(),
    /** Upper-case hex. */
    sha256: p.string().length(64),
    createdAt: p.datetime(),
  },
  uniques: [{ properties: ['tenant', 'imageId', 'sha256'] }],
});
export type AllowedImageEntity = InferEntity<typeof AllowedImage>;
