/** Every resolver, by area (one file per SDL area), merged into the map the executable schema needs. */
import type { Resolvers } from '../generated/graphql.js';
import { commonResolvers } from './common.js';
import { devicesResolvers } from './devices.js';
import { productsResolvers } from './products.js';
import { DateTimeScalar } from './scalars.js';
import { tenancyResolvers } from './tenancy.js';

export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  Query: { ...commonResolvers.Query, ...tenancyResolvers.Query, ...productsResolvers.Query, ...devicesResolvers.Query },
  Mutation: { ...commonResolvers.Mutation, ...tenancyResolvers.Mutation, ...productsResolvers.Mutation, ...devicesResolvers.Mutation },
  Subscription: { ...commonResolvers.Subscription, ...devicesResolvers.Subscription },
  Tenant: tenancyResolvers.Tenant,
  Product: productsResolvers.Product,
  DeviceGroup: productsResolvers.DeviceGroup,
  Device: devicesResolvers.Device,
  DeviceStatus: devicesResolvers.DeviceStatus,
  DeviceStatusEvent: devicesResolvers.DeviceStatusEvent,
};
