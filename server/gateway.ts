/**
 * The GraphQL gateway: one node HTTP server carrying Apollo (POST/GET /graphql), graphql-ws (WebSocket upgrade on
 * /graphql) and plain routes (/healthz, and whatever `routes` adds). A thin adapter: every answer comes from the
 * domain's Services, every event from the EventBus.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GraphQLSchema } from 'graphql';
import type { EventBus } from '../domain/events/event-bus.js';
import type { Services } from '../domain/services.js';
import type { Logger } from '../domain/shared/logger.js';
import { createApollo } from './apollo.js';
import { httpContextFactory } from './http/authenticate-request.js';
import { DEFAULT_MAX_BODY_BYTES, graphqlRoute } from './http/graphql-route.js';
import { crlRoute } from './http/crl-route.js';
import { errorCsvRoute } from './http/error-csv-route.js';
import { imageUploadRoute } from './http/image-upload-route.js';
import { createRouter, healthRoute, type HttpRoute } from './http/routes.js';
import { buildGatewaySchema } from './schema/executable-schema.js';
import { DEFAULT_SUBSCRIPTION_BUFFER } from './subscriptions/bus-stream.js';
import { attachGraphQLWs } from './subscriptions/graphql-ws-server.js';
import type { OperationLimits } from './validation/index.js';

export interface GatewayOptions {
  readonly services: Services;
  readonly bus: EventBus;
  readonly log: Logger;
  /** 0 picks a free port (see Gateway.port). */
  readonly port: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** Introspection for callers with a key; callers without one never get it. @default true */
  readonly introspection?: boolean;
  /** More HTTP routes (CRL download, image upload…), next to /graphql and /healthz. */
  readonly routes?: readonly HttpRoute[];
  /** Size, depth and cost limits for every operation (HTTP and WebSocket). */
  readonly limits?: OperationLimits & {
    /** @default 4 MiB */
    readonly maxBodyBytes?: number;
  };
  readonly subscriptions?: {
    /** Undelivered events a subscription may hold before the oldest are dropped. @default 256 */
    readonly bufferSize?: number;
    /** How often a live subscription re-checks its key (0: before every event). @default 5000 */
    readonly credentialRecheckMs?: number;
    /** WebSocket ping interval. @default 12_000 */
    readonly keepAliveMs?: number;
  };
  /** How long close() lets in-flight HTTP requests finish and WebSocket clients answer the close. @default 10_000 */
  readonly drainGraceMs?: number;
}

export interface Gateway {
  readonly port: number;
  /** `http://host:port` (GraphQL at `${url}/graphql`, WebSocket at the same path with ws://). */
  readonly url: string;
  readonly httpServer: Server;
  /** The executable schema both transports serve (the benchmark's baseline serves it too). */
  readonly schema: GraphQLSchema;
  /** Stops intake, closes WebSocket clients, lets in-flight requests finish, stops Apollo, closes the server. */
  close(): Promise<void>;
}

function urlOf(address: AddressInfo): string {
  // A wildcard bind is reachable on loopback; an IPv6 literal needs brackets.
  const host = address.address === '0.0.0.0' ? '127.0.0.1' : address.address === '::' ? '::1' : address.address;
  return `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
}

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const { services, bus, log } = opts;
  const introspection = opts.introspection ?? true;
  const limits = { maxTokens: opts.limits?.maxTokens, maxDepth: opts.limits?.maxDepth, maxCost: opts.limits?.maxCost } satisfies OperationLimits;
  const contextDeps = { services, bus, subscriptionBufferSize: opts.subscriptions?.bufferSize ?? DEFAULT_SUBSCRIPTION_BUFFER };

  const schema = await buildGatewaySchema();
  const httpServer = createServer();
  const apollo = createApollo({ schema, httpServer, log, introspection, limits, ...(opts.drainGraceMs !== undefined ? { drainGraceMs: opts.drainGraceMs } : {}) });
  await apollo.start();

  const routes: HttpRoute[] = [
    healthRoute,
    graphqlRoute(apollo, httpContextFactory(contextDeps), opts.limits?.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES),
    crlRoute(opts.services.certificates),
    errorCsvRoute(opts.services),
    imageUploadRoute(opts.services),
    ...(opts.routes ?? []),
  ];
  httpServer.on('request', createRouter(routes, log));
  const ws = attachGraphQLWs({
    ...contextDeps,
    httpServer,
    path: '/graphql',
    schema,
    log: log.child({ component: 'graphql-ws' }),
    introspection,
    limits,
    credentialRecheckMs: opts.subscriptions?.credentialRecheckMs ?? 5000,
    ...(opts.subscriptions?.keepAliveMs !== undefined ? { keepAliveMs: opts.subscriptions.keepAliveMs } : {}),
    ...(opts.drainGraceMs !== undefined ? { closeGraceMs: opts.drainGraceMs } : {}),
  });

  try {
    await new Promise<void>((resolve, reject) => {
      httpServer.once('error', reject);
      httpServer.listen(opts.port, opts.host ?? '127.0.0.1', () => {
        httpServer.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    await ws.dispose().catch(() => undefined);
    await apollo.stop().catch(() => undefined);
    throw e;
  }

  const address = httpServer.address();
  if (address === null || typeof address === 'string') throw new Error('the gateway must listen on a TCP port');
  const url = urlOf(address);
  log.info({ url: `${url}/graphql` }, 'GraphQL gateway listening');

  let closing: Promise<void> | null = null;
  return {
    port: address.port,
    url,
    httpServer,
    schema,
    close: () =>
      (closing ??= (async () => {
        // WebSocket clients first: the HTTP drain would otherwise cut their upgraded sockets without a close frame.
        await ws.dispose();
        // Apollo's drain plugin stops listening, lets in-flight requests finish (up to the grace period), then Apollo stops.
        await apollo.stop();
      })()),
  };
}
