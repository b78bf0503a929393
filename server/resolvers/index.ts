/** Every resolver, by area (one file per SDL area), merged into the map the executable schema needs. */
import type { Resolvers } from '../generated/graphql.js';
import { certificatesResolvers } from './certificates.js';
import { commonResolvers } from './common.js';
import { devicesResolvers } from './devices.js';
import { errorsResolvers } from './errors.js';
import { productsResolvers } from './products.js';
import { DateTimeScalar } from './scalars.js';
import { tenancyResolvers } from './tenancy.js';
import { updatesResolvers } from './updates.js';

export const resolvers: Resolvers = {
  DateTime: DateTimeScalar,
  Query: { ...commonResolvers.Query, ...tenancyResolvers.Query, ...productsResolvers.Query, ...devicesResolvers.Query, ...certificatesResolvers.Query, ...errorsResolvers.Query, ...updatesResolvers.Query },
  Mutation: { ...commonResolvers.Mutation, ...tenancyResolvers.Mutation, ...productsResolvers.Mutation, ...devicesResolvers.Mutation, ...certificatesResolvers.Mutation, ...updatesResolvers.Mutation },
  Subscription: { ...commonResolvers.Subscription, ...devicesResolvers.Subscription, ...certificatesResolvers.Subscription, ...errorsResolvers.Subscription, ...updatesResolvers.Subscription },
  Tenant: tenancyResolvers.Tenant,
  Product: productsResolvers.Product,
  DeviceGroup: productsResolvers.DeviceGroup,
  Device: { ...devicesResolvers.Device, ...updatesResolvers.Device },
  DeviceStatus: devicesResolvers.DeviceStatus,
  DeviceStatusEvent: devicesResolvers.DeviceStatusEvent,
  TenantCaCertificate: certificatesResolvers.TenantCaCertificate,
  CertificateEvent: certificatesResolvers.CertificateEvent,
  ErrorReport: errorsResolvers.ErrorReport,
  Issue: errorsResolvers.Issue,
  SigningKey: updatesResolvers.SigningKey,
  IssuedSigningKey: updatesResolvers.IssuedSigningKey,
  Image: updatesResolvers.Image,
  OsFeedRelease: updatesResolvers.OsFeedRelease,
  Deployment: updatesResolvers.Deployment,
  DeploymentDevice: updatesResolvers.DeploymentDevice,
};
