import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Tenant } from '../tenancy/tenant.entity.js';
import type { ImageStatus, ImageType, OsFeedName } from './image-types.js';

/**
 * A public key that signs image packages. Tenant keys sign the tenant's images (the first is made with the tenant);
 * platform keys (tenant null) sign OS images. The private key never reaches the service after it is handed out.
 */
export const SigningKey = defineEntity({
  name: 'SigningKey',
  tableName: 'signing_key',
  properties: {
    id: p.uuid().primary(),
    tenant: p.manyToOne(Tenant).mapToPk().nullable(),
    name: p.string().length(100),
    /** SPKI PEM of a P-256 key. */
    publicKeyPem: p.text(),
    /** SHA-256 of the SPKI DER, hex: what a device's trust anchor list is compared by. */
    fingerprint: p.string().length(64),
    createdAt: p.datetime(),
  },
  indexes: [{ properties: ['tenant'] }],
});
export type SigningKeyEntity = InferEntity<typeof SigningKey>;

/**
 * A signed image package: immutable once READY. The same component and payload are the same image. Tenant null:
 * an OS image of the platform.
 */
export const Image = defineEntity({
  name: 'Image',
  tableName: 'image',
  properties: {
    id: p.uuid().primary(),
    tenant: p.manyToOne(Tenant).mapToPk().nullable(),
    componentId: p.uuid(),
    name: p.string().length(100),
    version: p.string().length(64),
    type: p.string().length(16).$type<ImageType>(),
    /** Lower-case hex. */
    sha256: p.string().length(64),
    size: p.integer(),
    signature: p.string().length(100),
    signingKey: p.manyToOne(SigningKey).mapToPk(),
    status: p.string().length(16).$type<ImageStatus>(),
    createdAt: p.datetime(),
    uploadedAt: p.datetime().nullable(),
  },
  indexes: [{ properties: ['tenant', 'componentId', 'sha256'] }, { properties: ['tenant', 'createdAt'] }],
});
export type ImageEntity = InferEntity<typeof Image>;

/** An OS image published to a feed. RetailEval gets each release first; a group follows its feed's newest. */
export const OsFeedRelease = defineEntity({
  name: 'OsFeedRelease',
  tableName: 'os_feed_release',
  properties: {
    id: p.uuid().primary(),
    feed: p.string().length(20).$type<OsFeedName>(),
    image: p.manyToOne(Image).mapToPk(),
    version: p.string().length(64),
    publishedAt: p.datetime(),
  },
  uniques: [{ properties: ['feed', 'image'] }],
  indexes: [{ properties: ['feed', 'publishedAt'] }],
});
export type OsFeedReleaseEntity = InferEntity<typeof OsFeedRelease>;
