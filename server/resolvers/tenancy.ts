/** Tenants and API keys: args -> domain call -> view. The domain decides who may do what. */
import type { MutationResolvers, QueryResolvers, TenantResolvers } from '../generated/graphql.js';

export const tenancyResolvers = {
  Query: {
    tenant: (_root, _args, { services, actor }) => services.tenancy.currentTenant(actor),
    apiKeys: (_root, _args, { services, actor }) => services.tenancy.listApiKeys(actor).then((keys) => [...keys]),
  } satisfies QueryResolvers,
  Mutation: {
    createTenant: (_root, { input }, { services, actor }) => services.tenancy.createTenant(actor, { name: input.name }),
    createApiKey: (_root, { input }, { services, actor }) => services.tenancy.createApiKey(actor, { name: input.name, role: input.role }),
    revokeApiKey: (_root, { id }, { services, actor }) => services.tenancy.revokeApiKey(actor, id),
  } satisfies MutationResolvers,
  Tenant: {
    caCertificate: (tenant) => tenant.caCertificatePem,
  } satisfies TenantResolvers,
};
