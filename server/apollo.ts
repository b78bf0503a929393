/**
 * Apollo Server 5 configured for a public, authenticated API: no landing page, no cache-control computation or
 * Apollo-cloud reporting, no stack traces, no persisted queries (every request carries its document, so the anonymous check and the limits always see it), our
 * validation limits, one error formatter, and a log line (with the request id) for every internal error.
 */
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginLandingPageDisabled,
  ApolloServerPluginSchemaReportingDisabled,
  ApolloServerPluginUsageReportingDisabled,
} from '@apollo/server/plugin/disabled';
import type { Server } from 'node:http';
import type { GraphQLSchema } from 'graphql';
import type { Logger } from '../domain/shared/logger.js';
import { anonymousAccessPlugin } from './anonymous-access.js';
import type { GatewayContext } from './context.js';
import { describeForLog, formatError, isInternalError, requestError } from './errors.js';
import { DEFAULT_MAX_TOKENS, limitRules, type OperationLimits } from './validation/index.js';

export interface ApolloOptions {
  readonly schema: GraphQLSchema;
  readonly httpServer: Server;
  readonly log: Logger;
  readonly introspection: boolean;
  readonly limits: OperationLimits;
  /** How long close() waits for in-flight HTTP requests before cutting them. @default 10_000 */
  readonly drainGraceMs?: number;
}

function internalErrorLogPlugin(): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors, contextValue }) {
          for (const error of errors) {
            if (isInternalError(error)) contextValue.log.error({ err: describeForLog(error), path: error.path?.join('.') ?? null }, 'internal error');
          }
        },
      };
    },
  };
}

/**
 * graphql's execute() would run a subscription's root field once, like a query, and fail obscurely: say where
 * subscriptions are served instead.
 */
function subscriptionsOverWebSocketOnly(): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation }) {
          if (operation?.operation === 'subscription') {
            throw requestError('BAD_REQUEST', 'Subscriptions are served over WebSocket (graphql-transport-ws) on this path, not over HTTP', 400);
          }
        },
      };
    },
  };
}

/** Apollo's own log lines (start-up warnings, plugin failures) go to our logger. */
function apolloLogger(log: Logger): { debug(m: unknown): void; info(m: unknown): void; warn(m: unknown): void; error(m: unknown): void } {
  const text = (m: unknown): string => (m instanceof Error ? m.message : String(m));
  return {
    debug: (m) => log.debug({}, text(m)),
    info: (m) => log.info({}, text(m)),
    warn: (m) => log.warn({}, text(m)),
    error: (m) => log.error({}, text(m)),
  };
}

export function createApollo(options: ApolloOptions): ApolloServer<GatewayContext> {
  return new ApolloServer<GatewayContext>({
    schema: options.schema,
    logger: apolloLogger(options.log),
    // Introspection is further limited to callers with a key by anonymousAccessPlugin.
    introspection: options.introspection,
    parseOptions: { maxTokens: options.limits.maxTokens ?? DEFAULT_MAX_TOKENS },
    validationRules: limitRules(options.limits),
    formatError,
    includeStacktraceInErrorResponses: false,
    persistedQueries: false,
    csrfPrevention: true,
    // app/shutdown.ts owns SIGTERM/SIGINT (drain in order, database last). Apollo's own handler would stop the
    // server and re-send the signal, which reads as a second signal and exits before the drain finishes.
    stopOnTerminationSignals: false,
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer: options.httpServer, stopGracePeriodMillis: options.drainGraceMs ?? 10_000 }),
      ApolloServerPluginLandingPageDisabled(),
      // No HTTP caching (no @cacheControl hints: every answer is per key) and nothing reported to Apollo's cloud.
      // The cache-control plugin would otherwise wrap every field's resolution to compute a policy never used.
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginUsageReportingDisabled(),
      ApolloServerPluginSchemaReportingDisabled(),
      ApolloServerPluginInlineTraceDisabled(),
      anonymousAccessPlugin(),
      subscriptionsOverWebSocketOnly(),
      internalErrorLogPlugin(),
    ],
  });
}
