/** Products and device groups. Nested fields go through the per-request cache (one lookup per distinct id). */
import type { DeviceGroupView, ProductView } from '../../domain/views.js';
import type { GatewayContext } from '../context.js';
import type { DeviceGroupResolvers, MutationResolvers, ProductResolvers, QueryResolvers } from '../generated/graphql.js';

export const loadProduct = ({ cache, services, actor }: GatewayContext, productId: string): Promise<ProductView> =>
  cache.memo(`product:${productId}`, () => services.products.getProduct(actor, productId));

export const loadDeviceGroup = ({ cache, services, actor }: GatewayContext, deviceGroupId: string): Promise<DeviceGroupView> =>
  cache.memo(`deviceGroup:${deviceGroupId}`, () => services.products.getDeviceGroup(actor, deviceGroupId));

const loadGroupsOfProduct = ({ cache, services, actor }: GatewayContext, productId: string): Promise<readonly DeviceGroupView[]> =>
  cache.memo(`groupsOfProduct:${productId}`, () => services.products.listDeviceGroups(actor, { productId }));

export const productsResolvers = {
  Query: {
    products: (_root, _args, { services, actor }) => services.products.listProducts(actor).then((ps) => [...ps]),
    product: (_root, { id }, ctx) => loadProduct(ctx, id),
    deviceGroups: (_root, { productId }, { services, actor }) =>
      services.products.listDeviceGroups(actor, { productId: productId ?? null }).then((gs) => [...gs]),
    deviceGroup: (_root, { id }, ctx) => loadDeviceGroup(ctx, id),
  } satisfies QueryResolvers,
  Mutation: {
    createProduct: (_root, { input }, { services, actor }) =>
      services.products.createProduct(actor, { name: input.name, description: input.description ?? null }),
    createDeviceGroup: (_root, { input }, { services, actor }) =>
      services.products.createDeviceGroup(actor, {
        productId: input.productId,
        name: input.name,
        description: input.description ?? null,
        osFeed: input.osFeed ?? null,
        updatePolicy: input.updatePolicy ?? null,
      }),
    updateDeviceGroup: (_root, { id, input }, { services, actor }) =>
      services.products.updateDeviceGroup(actor, id, {
        name: input.name ?? null,
        description: input.description ?? null,
        osFeed: input.osFeed ?? null,
        updatePolicy: input.updatePolicy ?? null,
      }),
  } satisfies MutationResolvers,
  Product: {
    deviceGroups: (product, _args, ctx) => loadGroupsOfProduct(ctx, product.id).then((gs) => [...gs]),
  } satisfies ProductResolvers,
  DeviceGroup: {
    product: (group, _args, ctx) => loadProduct(ctx, group.productId),
  } satisfies DeviceGroupResolvers,
};
