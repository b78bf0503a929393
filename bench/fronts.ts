/**
 * The GraphQL scenario's baselines (issue 6 f), served from the same process as Spheregate's gateway so both
 * sides share one process, one `Services` instance and one database, and the process's CPU time is read the same
 * way for both. They exist only here, never in the production server:
 *
 * - graphql-http (the reference GraphQL-over-HTTP server, `createHandler` on node:http, its default options)
 *   serving the gateway's own executable schema (same resolvers) with the gateway's own per-request context:
 *   the same bearer-key authentication (httpContextFactory) and the same GatewayContext;
 * - a plain node:http handler answering the scenario's one `devices(first: 50)` query: it reads and parses the
 *   same JSON body, authenticates the same bearer key with the domain, calls the same domain call
 *   (`services.devices.listDevices`) and writes the same JSON Apollo writes — everything except GraphQL;
 * - a bare `ws` server that broadcasts a device-status event, framed as graphql-ws `next` messages, to every
 *   socket: the floor under subscription fan-out (no bus, no authorisation re-check, no GraphQL execution).
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { GraphQLError, type GraphQLSchema } from 'graphql';
import { createHandler } from 'graphql-http/lib/use/http';
import { WebSocketServer, type WebSocket } from 'ws';
import type { EventBus } from '../domain/events/event-bus.js';
import type { Services } from '../domain/services.js';
import type { Logger } from '../domain/shared/logger.js';
import type { GatewayContext } from '../server/context.js';
import { formatGraphQLError } from '../server/errors.js';
import { httpContextFactory } from '../server/http/authenticate-request.js';
import { DEFAULT_SUBSCRIPTION_BUFFER } from '../server/subscriptions/bus-stream.js';

/** The scenario's query, sent as the same bytes to Apollo and to the plain handler. */
export const DEVICES_QUERY = '{ devices(first: 50) { totalCount edges { node { id status { online } } } } }';
const PAGE_SIZE = 50;

/** What both sides deliver per subscription (the subscription's selection set, and the floor's payload). */
export interface StatusEventPayload {
  readonly deviceId: string;
  readonly online: boolean;
  readonly connectionSeq: number;
  readonly at: string;
}

/** What the baselines share with the gateway they are compared with. */
export interface FrontsDeps {
  readonly services: Services;
  readonly bus: EventBus;
  /** The gateway's executable schema (Gateway.schema): the same object, the same resolvers. */
  readonly schema: GraphQLSchema;
  readonly log: Logger;
}

export interface Fronts {
  /** graphql-http: POST here with the GraphQL request body and `authorization: Bearer <key>`. */
  readonly graphqlHttpUrl: string;
  /** POST here with the GraphQL request body and `authorization: Bearer <key>`. */
  readonly plainUrl: string;
  /** Connect with `?subscriptions=<n>`: every broadcast sends n `next` messages to that socket. */
  readonly floorWsUrl: string;
  /** Stamps `at` now and sends the event to every floor subscription; returns the messages sent. */
  broadcast(event: Omit<StatusEventPayload, 'at'>): number;
  close(): Promise<void>;
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

export async function startFronts(deps: FrontsDeps, host = '127.0.0.1'): Promise<Fronts> {
  const { services } = deps;
  const graphqlHttp = createServer(graphqlHttpHandler(deps));
  graphqlHttp.keepAliveTimeout = 60_000;
  const graphqlHttpPort = await listen(graphqlHttp, host);

  const plain = createServer((req, res) => {
    handleDevices(services, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  // Keep-alive connections must outlive the load generator's pauses between phases.
  plain.keepAliveTimeout = 60_000;
  const plainPort = await listen(plain, host);

  const floorServer = createServer((_req, res) => res.writeHead(426).end());
  const wss = new WebSocketServer({ server: floorServer });
  const subscribers = new Map<WebSocket, number>();
  wss.on('connection', (socket, req) => {
    const n = Number(new URL(req.url ?? '/', 'http://floor').searchParams.get('subscriptions') ?? 1);
    subscribers.set(socket, Number.isInteger(n) && n > 0 ? n : 1);
    socket.on('close', () => subscribers.delete(socket));
  });
  const floorPort = await listen(floorServer, host);

  return {
    graphqlHttpUrl: `http://${host}:${graphqlHttpPort}/graphql`,
    plainUrl: `http://${host}:${plainPort}/graphql`,
    floorWsUrl: `ws://${host}:${floorPort}/`,
    broadcast(event) {
      const payload: StatusEventPayload = { ...event, at: new Date().toISOString() };
      let sent = 0;
      for (const [socket, n] of subscribers) {
        // One message per subscription, serialised per subscription as graphql-ws does (each carries its own id).
        for (let id = 1; id <= n; id++) {
          socket.send(JSON.stringify({ id: String(id), type: 'next', payload: { data: { deviceStatusChanged: payload } } }));
          sent++;
        }
      }
      return sent;
    },
    async close() {
      for (const socket of wss.clients) socket.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      plain.closeAllConnections();
      graphqlHttp.closeAllConnections();
      await Promise.all([closeServer(plain), closeServer(graphqlHttp), closeServer(floorServer)]);
    },
  };
}

/**
 * graphql-http as its documentation sets it up, plus the gateway's context: the context function is the one
 * Apollo's route calls (authentication included), with a request id and child logger made as the gateway's
 * router makes them. A refused key answers 401 with the gateway's error, as the gateway does.
 */
function graphqlHttpHandler(deps: FrontsDeps): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const makeContext = httpContextFactory({ services: deps.services, bus: deps.bus, subscriptionBufferSize: DEFAULT_SUBSCRIPTION_BUFFER });
  // graphql-http wants an index-signature type; the spread below is the same context as a plain object.
  return createHandler<GatewayContext & Record<PropertyKey, unknown>>({
    schema: deps.schema,
    async context(req) {
      const requestId = randomUUID();
      try {
        return { ...(await makeContext(req.raw, { requestId, log: deps.log.child({ requestId }), params: {} })) };
      } catch (e) {
        if (!(e instanceof GraphQLError)) throw e;
        const http: unknown = e.extensions['http'];
        const status = typeof http === 'object' && http !== null && typeof Reflect.get(http, 'status') === 'number' ? Number(Reflect.get(http, 'status')) : 500;
        return [JSON.stringify({ errors: [formatGraphQLError(e)] }), { status, statusText: e.message, headers: { 'content-type': 'application/json; charset=utf-8' } }];
      }
    },
  });
}

async function handleDevices(services: Services, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'POST') return void res.writeHead(405).end();
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  // Parsed like Apollo's route parses it, so both sides pay for the body; the plain handler serves one query only.
  const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  if (typeof body !== 'object' || body === null || typeof Reflect.get(body, 'query') !== 'string') return void res.writeHead(400).end();
  const token = BEARER.exec(req.headers.authorization ?? '')?.[1];
  const actor = token ? await services.tenancy.authenticate(token) : null;
  if (!actor) return void res.writeHead(401).end();
  // The parts the query shows (id, status.online), as the gateway's resolver asks for them: the floor reads no more.
  const page = await services.devices.listDevices(actor, {}, { first: PAGE_SIZE }, ['status.online']);
  const json = JSON.stringify({
    data: { devices: { totalCount: page.totalCount, edges: page.items.map((d) => ({ node: { id: d.id, status: { online: d.status.online } } })) } },
  });
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

async function listen(server: Server, host: string): Promise<number> {
  server.listen(0, host);
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

const closeServer = (server: Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()));
