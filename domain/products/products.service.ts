import type { EntityManager } from '@mikro-orm/core';
import type { ProductsService } from '../services.js';
import type { Actor } from '../shared/actor.js';
import { authorizeTenant } from '../shared/authorize.js';
import { conflict, notFound, type DomainError } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { isUniqueViolation } from '../shared/persistence.js';
import type { ServiceDeps } from '../shared/service-deps.js';
import { nameKeyOf, optionalDescription, requireName, requireOneOf, requireUuid } from '../shared/validation.js';
import type { DeviceGroupView, OsFeed, ProductView, UpdatePolicy } from '../views.js';
import { groupTargetsOf } from '../deployments/group-targets.js';
import { DEFAULT_DEVICE_GROUPS } from './default-device-groups.js';
import { DeviceGroup, OS_FEEDS, UPDATE_POLICIES, type DeviceGroupEntity } from './device-group.entity.js';
import { Product, type ProductEntity } from './product.entity.js';
import { toDeviceGroupView, toProductView } from './products.views.js';

const productNameTaken = (): DomainError => conflict('A product with this name already exists in the tenant', { field: 'name' });
const groupNameTaken = (): DomainError => conflict('A device group with this name already exists in the product', { field: 'name' });

/** Runs work; a unique-index violation (a concurrent call took the name) becomes the given CONFLICT. */
async function uniqueOr<T>(onConflict: () => DomainError, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (isUniqueViolation(e)) throw onConflict();
    throw e;
  }
}

/** The caller's product, or NOT_FOUND (also for another tenant's product: it does not exist for the caller). */
async function ownProduct(em: EntityManager, tenantId: string, productId: string): Promise<ProductEntity> {
  const product = await em.findOne(Product, { id: productId, tenant: tenantId });
  if (!product) throw notFound('Product', productId);
  return product;
}

async function ownGroup(em: EntityManager, tenantId: string, groupId: string): Promise<DeviceGroupEntity> {
  const group = await em.findOne(DeviceGroup, { id: groupId, tenant: tenantId });
  if (!group) throw notFound('DeviceGroup', groupId);
  return group;
}

export function createProductsService(deps: ServiceDeps): ProductsService {
  const log = deps.log.child({ service: 'products' });

  return {
    async createProduct(actor: Actor | null, input: { name: string; description?: string | null }): Promise<ProductView> {
      const user = authorizeTenant(actor, 'product.write');
      const name = requireName('name', input.name);
      const description = optionalDescription('description', input.description);
      const nameKey = nameKeyOf(name);
      const em = deps.em.fork();
      if (await em.count(Product, { tenant: user.tenantId, nameKey })) throw productNameTaken();

      const product = await uniqueOr(productNameTaken, () =>
        // The product and its five default groups appear together or not at all.
        em.transactional(async (tem) => {
          const now = deps.clock.now();
          const created = tem.create(Product, { id: newId(), tenant: user.tenantId, name, nameKey, description, createdAt: now });
          for (const g of DEFAULT_DEVICE_GROUPS) {
            tem.create(DeviceGroup, {
              id: newId(),
              tenant: user.tenantId,
              product: created.id,
              name: g.name,
              nameKey: nameKeyOf(g.name),
              description: g.description,
              osFeed: g.osFeed,
              updatePolicy: g.updatePolicy,
              createdAt: now,
            });
          }
          await tem.flush();
          return created;
        }),
      );
      log.info({ tenantId: user.tenantId, productId: product.id }, 'product created');
      return toProductView(product);
    },

    async listProducts(actor: Actor | null): Promise<readonly ProductView[]> {
      const user = authorizeTenant(actor, 'tenant.read');
      const products = await deps.em.fork().find(Product, { tenant: user.tenantId }, { orderBy: { nameKey: 'asc', id: 'asc' } });
      return products.map(toProductView);
    },

    async getProduct(actor: Actor | null, productId: string): Promise<ProductView> {
      const user = authorizeTenant(actor, 'tenant.read');
      const id = requireUuid('productId', productId);
      return toProductView(await ownProduct(deps.em.fork(), user.tenantId, id));
    },

    async createDeviceGroup(
      actor: Actor | null,
      input: { productId: string; name: string; description?: string | null; osFeed?: OsFeed | null; updatePolicy?: UpdatePolicy | null },
    ): Promise<DeviceGroupView> {
      const user = authorizeTenant(actor, 'product.write');
      const productId = requireUuid('productId', input.productId);
      const name = requireName('name', input.name);
      const description = optionalDescription('description', input.description);
      const osFeed = requireOneOf('osFeed', OS_FEEDS, input.osFeed ?? 'Retail');
      const updatePolicy = requireOneOf('updatePolicy', UPDATE_POLICIES, input.updatePolicy ?? 'UpdateAll');
      const nameKey = nameKeyOf(name);
      const em = deps.em.fork();
      await ownProduct(em, user.tenantId, productId);
      if (await em.count(DeviceGroup, { product: productId, nameKey })) throw groupNameTaken();

      const group = em.create(DeviceGroup, {
        id: newId(),
        tenant: user.tenantId,
        product: productId,
        name,
        nameKey,
        description,
        osFeed,
        updatePolicy,
        createdAt: deps.clock.now(),
      });
      await uniqueOr(groupNameTaken, () => em.flush());
      log.info({ tenantId: user.tenantId, productId, deviceGroupId: group.id }, 'device group created');
      return toDeviceGroupView(group);
    },

    async updateDeviceGroup(
      actor: Actor | null,
      deviceGroupId: string,
      input: { name?: string | null; description?: string | null; osFeed?: OsFeed | null; updatePolicy?: UpdatePolicy | null },
    ): Promise<DeviceGroupView> {
      const user = authorizeTenant(actor, 'product.write');
      const id = requireUuid('id', deviceGroupId);
      // Absent (null/undefined) fields stay as they are; every present one is checked before anything changes.
      const name = input.name == null ? null : requireName('name', input.name);
      const description = input.description == null ? null : optionalDescription('description', input.description);
      const osFeed = input.osFeed == null ? null : requireOneOf('osFeed', OS_FEEDS, input.osFeed);
      const updatePolicy = input.updatePolicy == null ? null : requireOneOf('updatePolicy', UPDATE_POLICIES, input.updatePolicy);
      const em = deps.em.fork();
      const group = await ownGroup(em, user.tenantId, id);

      if (name !== null && nameKeyOf(name) !== group.nameKey) {
        const nameKey = nameKeyOf(name);
        if (await em.count(DeviceGroup, { product: group.product, nameKey })) throw groupNameTaken();
        group.nameKey = nameKey;
      }
      if (name !== null) group.name = name;
      if (description !== null) group.description = description;
      if (osFeed !== null) group.osFeed = osFeed;
      if (updatePolicy !== null) group.updatePolicy = updatePolicy;
      await uniqueOr(groupNameTaken, () => em.flush());
      // Its feed and update policy decide its devices' targets, which are held (deployments/group-targets.ts).
      if (osFeed !== null || updatePolicy !== null) groupTargetsOf(deps).invalidate(group.id);
      return toDeviceGroupView(group);
    },

    async listDeviceGroups(actor: Actor | null, filter: { productId?: string | null }): Promise<readonly DeviceGroupView[]> {
      const user = authorizeTenant(actor, 'tenant.read');
      const em = deps.em.fork();
      const productId = filter.productId == null ? null : requireUuid('productId', filter.productId);
      if (productId) await ownProduct(em, user.tenantId, productId);
      const groups = await em.find(
        DeviceGroup,
        productId ? { tenant: user.tenantId, product: productId } : { tenant: user.tenantId },
        { orderBy: { product: 'asc', createdAt: 'asc', nameKey: 'asc' } },
      );
      return groups.map(toDeviceGroupView);
    },

    async getDeviceGroup(actor: Actor | null, deviceGroupId: string): Promise<DeviceGroupView> {
      const user = authorizeTenant(actor, 'tenant.read');
      const id = requireUuid('deviceGroupId', deviceGroupId);
      return toDeviceGroupView(await ownGroup(deps.em.fork(), user.tenantId, id));
    },
  };
}
