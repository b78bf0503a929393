/**
 * Signed images: metadata first (its signature is checked against the owner's signing keys at once), then the
 * payload streamed to storage and checked against the signed hash and size; only then is the image READY, and it
 * never changes after. A tenant's images are its own (another tenant's are NOT_FOUND); OS images belong to the
 * platform, signed by platform keys, and reach devices through the OS feeds.
 */
import type { EntityManager } from '@mikro-orm/core';
import type { ImagesService } from '../services.js';
import type { Actor } from '../shared/actor.js';
import { authorizePlatform, authorizeTenant } from '../shared/authorize.js';
import { badInput, conflict, forbidden, notFound, unauthenticated } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import type { ServiceDeps } from '../shared/service-deps.js';
import { refuseNul, requireName, requireOneOf, requireUuid } from '../shared/validation.js';
import type { ImageInput, ImageView, IssuedSigningKey, OsFeedReleaseView, SigningKeyView } from '../views.js';
import { Image, OsFeedRelease, SigningKey, type ImageEntity, type OsFeedReleaseEntity } from './image.entities.js';
import { PayloadTooLargeError, type ImageStorage } from './image-storage.port.js';
import { IMAGE_TYPES, OS_FEEDS, verifySignature, type OsFeedName } from './image-types.js';
import { newSigningKey, registeredSigningKey, toSigningKeyView } from './signing-keys.js';
import { OsRelease } from '../certificates/measurement.entities.js';
import { groupTargetsOf } from '../deployments/group-targets.js';

export const toImageView = (i: ImageEntity): ImageView => ({
  id: i.id,
  tenantId: i.tenant ?? null,
  componentId: i.componentId,
  name: i.name,
  version: i.version,
  type: i.type,
  sha256: i.sha256,
  size: i.size,
  signature: i.signature,
  signingKeyId: i.signingKey,
  status: i.status,
  createdAt: i.createdAt,
  uploadedAt: i.uploadedAt ?? null,
});

const toReleaseView = (r: OsFeedReleaseEntity): OsFeedReleaseView => ({ id: r.id, feed: r.feed, imageId: r.image, version: r.version, publishedAt: r.publishedAt });

/** Whose images a caller handles: a tenant's (tenant users) or the platform's OS images (the platform key). */
type Owner = { readonly tenantId: string | null };

function ownerFor(actor: Actor | null, permission: 'image.upload' | 'signingKey.manage'): Owner {
  if (!actor) throw unauthenticated();
  if (actor.kind === 'platform' || actor.kind === 'system') return { tenantId: null };
  return { tenantId: authorizeTenant(actor, permission).tenantId };
}

function readerOwner(actor: Actor | null): Owner {
  if (!actor) throw unauthenticated();
  if (actor.kind === 'platform' || actor.kind === 'system') return { tenantId: null };
  return { tenantId: authorizeTenant(actor, 'tenant.read').tenantId };
}

export interface ImagesConfig {
  /** Largest payload accepted. */
  readonly maxImageBytes: number;
}

export function createImagesService(deps: ServiceDeps, storage: ImageStorage, config: ImagesConfig): ImagesService {
  const log = deps.log.child({ service: 'images' });

  async function ownImage(em: EntityManager, owner: Owner, imageId: string): Promise<ImageEntity> {
    const id = requireUuid('imageId', imageId);
    const image = await em.findOne(Image, { id, tenant: owner.tenantId });
    if (!image) throw notFound('Image', id);
    return image;
  }

  return {
    async registerSigningKey(actor: Actor | null, input: { name: string; publicKeyPem: string }): Promise<SigningKeyView> {
      const owner = ownerFor(actor, 'signingKey.manage');
      const em = deps.em.fork();
      const key = registeredSigningKey(em, owner.tenantId, requireName('name', input.name), input.publicKeyPem, deps.clock.now());
      await em.flush();
      log.info({ tenantId: owner.tenantId, signingKeyId: key.id }, 'signing key registered');
      return toSigningKeyView(key);
    },

    async createSigningKey(actor: Actor | null, input: { name: string }): Promise<IssuedSigningKey> {
      const owner = ownerFor(actor, 'signingKey.manage');
      const em = deps.em.fork();
      const { key, privateKeyPem } = newSigningKey(em, owner.tenantId, requireName('name', input.name), deps.clock.now());
      await em.flush();
      log.info({ tenantId: owner.tenantId, signingKeyId: key.id }, 'signing key created');
      return { signingKey: toSigningKeyView(key), privateKeyPem };
    },

    async listSigningKeys(actor: Actor | null): Promise<readonly SigningKeyView[]> {
      const owner = readerOwner(actor);
      const keys = await deps.em.fork().find(SigningKey, { tenant: owner.tenantId }, { orderBy: { createdAt: 'asc', id: 'asc' } });
      return keys.map(toSigningKeyView);
    },

    async createImage(actor: Actor | null, input: ImageInput): Promise<{ readonly image: ImageView; readonly created: boolean }> {
      const owner = ownerFor(actor, 'image.upload');
      const componentId = requireUuid('componentId', input.componentId).toLowerCase();
      const name = requireName('name', input.name);
      const version = String(input.version ?? '').trim();
      if (!/^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/.test(version)) throw badInput('version', '1..64 of letters, digits, ".", "_", "+", "-"');
      const type = requireOneOf('type', IMAGE_TYPES, input.type);
      if ((owner.tenantId === null) !== (type === 'OS')) throw forbidden(type === 'OS' ? 'OS images are published by the platform' : 'The platform publishes OS images only');
      const sha256 = String(input.sha256 ?? '').toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(sha256)) throw badInput('sha256', 'must be 64 hex characters');
      if (!Number.isSafeInteger(input.size) || input.size < 0) throw badInput('size', 'must be a whole number of bytes');
      if (input.size > config.maxImageBytes) throw badInput('size', `at most ${config.maxImageBytes} bytes`);
      // Base64 decoding skips what is not base64, so a NUL would verify and then fail to be stored.
      const signature = refuseNul('signature', String(input.signature ?? ''));
      const metadata = { componentId, name, version, type, sha256, size: input.size };

      const em = deps.em.fork();
      const keys = await em.find(SigningKey, { tenant: owner.tenantId });
      const signer = keys.find((k) => verifySignature(metadata, signature, k.publicKeyPem));
      if (!signer) {
        log.warn({ tenantId: owner.tenantId, componentId, version }, 'image refused: the signature verifies with none of the owner\'s signing keys');
        throw badInput('signature', 'does not verify with any signing key of yours');
      }
      // Immutable and content-addressed: the same component and payload are the same image.
      const existing = await em.findOne(Image, { tenant: owner.tenantId, componentId, sha256 });
      if (existing) {
        if (existing.name !== name || existing.version !== version || existing.type !== type || existing.size !== input.size) {
          throw conflict(`This payload is already image ${existing.id} (${existing.name} ${existing.version})`, { imageId: existing.id });
        }
        return { image: toImageView(existing), created: false };
      }
      const image = em.create(Image, {
        id: newId(),
        tenant: owner.tenantId,
        ...metadata,
        signature,
        signingKey: signer.id,
        status: 'PENDING_UPLOAD',
        createdAt: deps.clock.now(),
        uploadedAt: null,
      });
      await em.flush();
      log.info({ tenantId: owner.tenantId, imageId: image.id, componentId, version, type }, 'image created; waiting for its payload');
      return { image: toImageView(image), created: true };
    },

    async uploadPayload(actor: Actor | null, imageId: string, source: AsyncIterable<Uint8Array>): Promise<ImageView> {
      const owner = ownerFor(actor, 'image.upload');
      const em = deps.em.fork();
      const image = await ownImage(em, owner, imageId);
      if (image.status === 'READY') {
        // Immutable: a second upload changes nothing (and reads nothing more than it must).
        return toImageView(image);
      }
      let staged;
      try {
        staged = await storage.stage(image.id, source, image.size);
      } catch (e) {
        if (e instanceof PayloadTooLargeError) throw badInput('payload', `larger than the ${image.size} bytes the metadata declares`);
        throw e;
      }
      if (staged.size !== image.size || staged.sha256 !== image.sha256) {
        await staged.discard();
        log.warn({ imageId: image.id, size: staged.size, sha256: staged.sha256 }, 'image payload refused: it is not what the signed metadata describes');
        throw badInput('payload', `its SHA-256 ${staged.sha256} and size ${staged.size} are not the signed ${image.sha256} and ${image.size}`);
      }
      await staged.commit();
      image.status = 'READY';
      image.uploadedAt = deps.clock.now();
      await em.flush();
      log.info({ imageId: image.id, size: image.size }, 'image payload stored; the image is ready');
      return toImageView(image);
    },

    async listImages(actor: Actor | null, filter: { componentId?: string | null; type?: string | null }): Promise<readonly ImageView[]> {
      const owner = readerOwner(actor);
      const where: Record<string, unknown> = { tenant: owner.tenantId };
      if (filter.componentId != null) where['componentId'] = requireUuid('componentId', filter.componentId).toLowerCase();
      if (filter.type != null) where['type'] = requireOneOf('type', IMAGE_TYPES, filter.type);
      const rows = await deps.em.fork().find(Image, where, { orderBy: { createdAt: 'desc', id: 'asc' }, limit: 1000 });
      return rows.map(toImageView);
    },

    async getImage(actor: Actor | null, imageId: string): Promise<ImageView> {
      const owner = readerOwner(actor);
      const em = deps.em.fork();
      const id = requireUuid('id', imageId);
      // Tenants also see the platform's OS images (they run them).
      const image = await em.findOne(Image, { id, tenant: owner.tenantId === null ? null : { $in: [owner.tenantId] } });
      if (image) return toImageView(image);
      const os = owner.tenantId !== null ? await em.findOne(Image, { id, tenant: null, type: 'OS' }) : null;
      if (!os) throw notFound('Image', id);
      return toImageView(os);
    },

    async publishOsRelease(actor: Actor | null, imageId: string, feed: string): Promise<OsFeedReleaseView> {
      authorizePlatform(actor, 'os.publish');
      const target = requireOneOf<OsFeedName>('feed', OS_FEEDS, feed);
      const em = deps.em.fork();
      const image = await ownImage(em, { tenantId: null }, imageId);
      if (image.status !== 'READY') throw conflict('The image has no payload yet');
      const already = await em.findOne(OsFeedRelease, { feed: target, image: image.id });
      if (already) return toReleaseView(already);
      // RetailEval gets a release first: Retail only takes what RetailEval has had.
      if (target === 'Retail' && (await em.count(OsFeedRelease, { feed: 'RetailEval', image: image.id })) === 0) {
        throw conflict('Publish the release to RetailEval before Retail');
      }
      const release = em.create(OsFeedRelease, { id: newId(), feed: target, image: image.id, version: image.version, publishedAt: deps.clock.now() });
      // Devices that install it report this OS version; attestation must know it.
      if ((await em.count(OsRelease, { version: image.version })) === 0) em.create(OsRelease, { version: image.version, registeredAt: deps.clock.now() });
      await em.flush();
      // Every group on the feed now targets it (groups' targets are held: see group-targets.ts).
      groupTargetsOf(deps).invalidate();
      log.info({ imageId: image.id, version: image.version, feed: target }, 'OS release published');
      return toReleaseView(release);
    },

    async listOsFeedReleases(actor: Actor | null, feed: string | null): Promise<readonly OsFeedReleaseView[]> {
      readerOwner(actor);
      const where = feed === null ? {} : { feed: requireOneOf<OsFeedName>('feed', OS_FEEDS, feed) };
      const rows = await deps.em.fork().find(OsFeedRelease, where, { orderBy: { publishedAt: 'desc', id: 'asc' } });
      return rows.map(toReleaseView);
    },
  };
}
