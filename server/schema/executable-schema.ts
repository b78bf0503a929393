import { makeExecutableSchema } from '@graphql-tools/schema';
import type { GraphQLSchema } from 'graphql';
import { resolvers } from '../resolvers/index.js';
import { loadSdl } from './load-sdl.js';

/**
 * The SDL from schema/ with our resolvers. A resolver for a field the SDL lacks is an error at start
 * (requireResolversToMatchSchema), so SDL and code cannot drift apart silently.
 */
export async function buildGatewaySchema(schemaDir?: string): Promise<GraphQLSchema> {
  return makeExecutableSchema({
    typeDefs: await loadSdl(schemaDir),
    resolvers,
    resolverValidationOptions: { requireResolversToMatchSchema: 'error' },
  });
}
