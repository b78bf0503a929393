/** Root placeholders of schema/common.graphql and the liveness field every caller may ask. */
import type { MutationResolvers, QueryResolvers, SubscriptionResolvers } from '../generated/graphql.js';

export const commonResolvers = {
  Query: {
    health: () => 'ok',
  } satisfies QueryResolvers,
  Mutation: {
    _noop: () => null,
  } satisfies MutationResolvers,
  Subscription: {
    // A placeholder root field: a subscription to it ends at once.
    _noop: {
      subscribe: async function* () {
        /* nothing ever happens */
      },
    },
  } satisfies SubscriptionResolvers,
};
