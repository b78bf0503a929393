/**
 * graphql-ws on the gateway's HTTP server (same port and path as HTTP GraphQL). Apollo is not in this path, so
 * this module does for WebSocket operations what Apollo and our plugins do for HTTP: authentication (in
 * connection_init), the same validation rules and limits, and the same error formatting.
 *
 * Authentication: `connection_init` carries `{ authorization: 'Bearer <key>' }` or `{ apiKey: '<key>' }`. No key,
 * an unknown one or a revoked one closes the socket with 4403 Forbidden (graphql-ws's refusal code); nothing runs
 * without a key here, not even `health`. A key revoked while connected: each subscription ends with
 * UNAUTHENTICATED at its next event (the key is re-checked at most every `credentialRecheckMs`), and the socket
 * is then closed with 4403; a new operation on that socket closes it likewise.
 */
import type { Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { GraphQLError, NoSchemaIntrospectionCustomRule, parse, specifiedRules, validate, type DocumentNode, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { CloseCode, type Context } from 'graphql-ws';
import { useServer, type Extra } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { Duplex } from 'node:stream';
import type { Actor } from '../../domain/shared/actor.js';
import type { Logger } from '../../domain/shared/logger.js';
import { authenticate, credentialFromConnectionParams, sharedCredentialRechecks } from '../auth.js';
import { describeForLog, formatGraphQLError, INTERNAL_MESSAGE, isInternalError, withCode } from '../errors.js';
import { socketContext, type ContextDeps } from '../request-context.js';
import { FanOut, type ConnectionBus } from './connection-bus.js';
import { sharedSubscriptionExecution } from './shared-execution.js';
import { DEFAULT_MAX_TOKENS, limitRules, type OperationLimits } from '../validation/index.js';

export interface GraphQLWsOptions extends ContextDeps {
  readonly httpServer: Server;
  readonly path: string;
  readonly schema: GraphQLSchema;
  readonly log: Logger;
  readonly introspection: boolean;
  readonly limits: OperationLimits;
  /** @default 5000 */
  readonly credentialRecheckMs: number;
  /** Ping interval; a peer that misses a pong is dropped. @default 12_000 */
  readonly keepAliveMs?: number;
  /** How long dispose() waits for clients to answer the close frame before cutting them. @default 10_000 */
  readonly closeGraceMs?: number;
}

export interface GraphQLWsServer {
  /** Closes every socket (1001 Going away), ends their subscriptions and stops accepting upgrades. */
  dispose(): Promise<void>;
}

/** What one authenticated socket keeps between messages. The key itself stays inside `recheck`. */
interface Connection {
  readonly id: string;
  readonly actor: Actor;
  readonly log: Logger;
  /** Shared with the other sockets presenting the same key (sharedCredentialRechecks). */
  readonly recheck: () => boolean | Promise<boolean>;
  readonly release: () => void;
  /** The connection's one handler on the bus, shared by its subscriptions. */
  readonly bus: ConnectionBus;
  revoked: boolean;
}

type WsContext = Context<Record<string, unknown> | undefined, Extra>;

export function attachGraphQLWs(options: GraphQLWsOptions): GraphQLWsServer {
  const { httpServer, path, schema, log, services } = options;
  const rules = [...specifiedRules, ...limitRules(options.limits), ...(options.introspection ? [] : [NoSchemaIntrospectionCustomRule])];
  const connections = new WeakMap<WsContext, Connection>();
  const rechecks = sharedCredentialRechecks(services.tenancy, options.credentialRecheckMs);
  const wss = new WebSocketServer({ server: httpServer, path });
  coalesceConsecutiveFrames(wss);
  const fanOut = new FanOut(options.bus);

  const refuse = (ctx: WsContext): void => {
    const connection = connections.get(ctx);
    if (connection) connection.revoked = true;
    // After the current message's replies are written (they are queued synchronously), not before.
    setImmediate(() => ctx.extra.socket.close(CloseCode.Forbidden, 'Forbidden'));
  };

  const logInternal = (connection: Connection | undefined, errors: readonly GraphQLError[]): void => {
    for (const error of errors) if (isInternalError(error)) (connection?.log ?? log).error({ err: describeForLog(error) }, 'internal error in a WebSocket operation');
  };

  const disposable = useServer<Record<string, unknown> | undefined, Record<PropertyKey, never>>(
    {
      schema,
      // Executions shared between subscribers of the same event with the same operation and actor.
      subscribe: sharedSubscriptionExecution(),
      // Never put an internal error's message in a close reason, whatever NODE_ENV says.
      isProd: true,
      async onConnect(ctx) {
        const outcome = await authenticate(services.tenancy, credentialFromConnectionParams(ctx.connectionParams)).catch((e: unknown) => {
          log.error({ err: describeForLog(e) }, 'WebSocket authentication failed');
          return { status: 'refused' as const };
        });
        if (outcome.status !== 'authenticated') return false; // graphql-ws closes with 4403 Forbidden
        const id = randomUUID();
        const { recheck, release } = rechecks.acquire(outcome.token);
        const connectionLog = log.child({ connectionId: id });
        connections.set(ctx, { id, actor: outcome.actor, log: connectionLog, recheck, release, bus: fanOut.connection(connectionLog), revoked: false });
        return true;
      },
      onClose(ctx) {
        const connection = connections.get(ctx);
        connection?.release();
        void connection?.bus.close();
      },
      async onSubscribe(ctx, id, payload) {
        const connection = connections.get(ctx);
        let valid: boolean;
        try {
          valid = connection !== undefined && !connection.revoked && (await connection.recheck());
        } catch (e) {
          // The key store is unreachable: that is our failure, not a revocation; the socket stays open.
          (connection?.log ?? log).error({ err: describeForLog(e) }, 'WebSocket re-authentication failed');
          return [new GraphQLError(INTERNAL_MESSAGE, { extensions: { code: 'INTERNAL_SERVER_ERROR' } })];
        }
        if (!connection || !valid) {
          refuse(ctx);
          return [new GraphQLError('The API key was revoked', { extensions: { code: 'UNAUTHENTICATED' } })];
        }
        let document: DocumentNode;
        try {
          document = parse(payload.query, { maxTokens: options.limits.maxTokens ?? DEFAULT_MAX_TOKENS });
        } catch (e) {
          return [withCode(e instanceof GraphQLError ? e : new GraphQLError('Syntax error'), 'GRAPHQL_PARSE_FAILED')];
        }
        const errors = validate(schema, document, rules);
        if (errors.length > 0) return errors.map((e) => withCode(e, 'GRAPHQL_VALIDATION_FAILED'));
        const requestId = `${connection.id}/${id}`;
        const settle = (valid: boolean): boolean => {
          if (!valid) refuse(ctx);
          return valid;
        };
        // Synchronous unless the key store must be asked: this runs before every delivery.
        const credentialStillValid = (): boolean | Promise<boolean> => {
          if (connection.revoked) return settle(false);
          const valid = connection.recheck();
          return typeof valid === 'boolean' ? settle(valid) : valid.then(settle);
        };
        return {
          schema,
          document,
          operationName: payload.operationName ?? null,
          variableValues: payload.variables ?? null,
          contextValue: socketContext({ ...options, bus: connection.bus }, connection.actor, requestId, connection.log.child({ requestId }), credentialStillValid),
        };
      },
      onNext(ctx, _id, _payload, _args, result) {
        if (!result.errors) return;
        logInternal(connections.get(ctx), result.errors);
        // Errors without a field path are about the request (variables that do not coerce): Apollo says BAD_USER_INPUT.
        const errors = result.errors.map((e) => formatGraphQLError(e.path ? e : withCode(e, 'BAD_USER_INPUT')));
        return { ...(result as ExecutionResult), errors };
      },
      onError(ctx, _id, _payload, errors) {
        logInternal(connections.get(ctx), errors);
        return errors.map((e) => formatGraphQLError(e));
      },
    },
    wss,
    options.keepAliveMs,
  );

  return {
    async dispose() {
      // A client that never answers the close frame must not hold shutdown for ws's own 30 s timeout.
      const cut = setTimeout(() => {
        for (const client of wss.clients) client.terminate();
      }, options.closeGraceMs ?? 10_000);
      try {
        await disposable.dispose();
      } finally {
        clearTimeout(cut);
      }
    },
  };
}

/**
 * One event fans out to every subscription of every socket, and graphql-ws writes each subscription's `next`
 * frame on its own: ten subscriptions on one socket cost ten write syscalls (and ten TCP segments for the client
 * to read). Frames written to the same socket one after another in one turn of the event loop are held (the
 * socket is corked) until a frame for another socket comes, or the turn ends, and then leave in one write. A
 * socket's frames are never held past the current turn, and never behind another socket's.
 */
function coalesceConsecutiveFrames(wss: WebSocketServer): void {
  let corked: Duplex | null = null;
  let scheduled = false;
  const release = (): void => {
    corked?.uncork();
    corked = null;
  };
  const flush = (): void => {
    scheduled = false;
    release();
  };
  wss.on('connection', (socket, request) => {
    // ws writes its frames to the upgraded request's socket; its own send() is wrapped on this instance only.
    const raw = request.socket;
    const send = socket.send.bind(socket);
    socket.send = ((data: unknown, ...rest: unknown[]) => {
      if (corked !== raw) {
        release();
        raw.cork();
        corked = raw;
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      }
      return (send as (...args: unknown[]) => void)(data, ...rest);
    }) as typeof socket.send;
  });
}
