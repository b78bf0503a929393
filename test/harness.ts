/**
 * The whole service in-process on port 0 with a temporary data dir and a fresh database, plus small clients for
 * GraphQL (HTTP and graphql-ws). Everything started is tracked and disposed by `dispose()` (call it in afterAll).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { loadConfig } from '../app/config.js';
import { startSpheregate, type Running } from '../app/start.js';
import { createLogger } from '../infra/log.js';
import { openTestDatabase } from './db.js';

export type DbKind = 'sqlite' | 'postgresql';

export interface TestService {
  readonly running: Running;
  readonly dataDir: string;
  readonly databaseUrl: string | null;
  readonly graphqlUrl: string;
  readonly wsUrl: string;
  readonly mqttUrl: string;
  /** Starts the service again on the same data dir, database and ports (a restart). */
  restart(): Promise<void>;
  stop(): Promise<void>;
  dispose(): Promise<void>;
}

export async function startTestService(
  kind: DbKind,
  opts: { logLevel?: 'silent' | 'info' | 'debug'; /** More environment, e.g. SPHEREGATE_DEVICE_CERT_LIFETIME. */ env?: Record<string, string> } = {},
): Promise<TestService> {
  const db = await openTestDatabase(kind);
  // The harness only needs the database itself: the service opens its own connection and migrates it.
  await db.orm.close();
  const dataDir = await mkdtemp(join(tmpdir(), 'sg-e2e-'));
  const log = createLogger({ level: opts.logLevel ?? (process.env.SPHEREGATE_TEST_LOG === 'debug' ? 'debug' : 'silent') });
  const env = (httpPort: number, mqttPort: number, downloadPort: number): Record<string, string> => ({
    SPHEREGATE_DATA_DIR: dataDir,
    SPHEREGATE_HTTP_PORT: String(httpPort),
    SPHEREGATE_MQTT_PORT: String(mqttPort),
    SPHEREGATE_DOWNLOAD_PORT: String(downloadPort),
    SPHEREGATE_BIND_ADDRESS: '127.0.0.1',
    SPHEREGATE_NODE_ID: 'test-node',
    ...(db.databaseUrl ? { DATABASE_URL: db.databaseUrl } : {}),
    ...opts.env,
  });

  let running: Running | null = await startSpheregate(loadConfig(env(0, 0, 0)), { log });
  const httpPort = running.gateway.port;
  const mqttPort = running.broker.port;
  const downloadPort = running.downloads.port;

  const service: TestService = {
    get running(): Running {
      if (!running) throw new Error('service is stopped');
      return running;
    },
    dataDir,
    databaseUrl: db.databaseUrl,
    graphqlUrl: `http://127.0.0.1:${httpPort}/graphql`,
    wsUrl: `ws://127.0.0.1:${httpPort}/graphql`,
    mqttUrl: `mqtts://localhost:${mqttPort}`,
    async restart() {
      await service.stop();
      running = await startSpheregate(loadConfig(env(httpPort, mqttPort, downloadPort)), { log });
    },
    async stop() {
      const r = running;
      running = null;
      await r?.close();
    },
    async dispose() {
      await service.stop();
      await db.dispose();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return service;
}

export interface GraphQLResponse<T> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

/** One GraphQL request over HTTP. */
export async function gql<T = Record<string, unknown>>(
  url: string,
  key: string | null,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<GraphQLResponse<T>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as GraphQLResponse<T>;
}

/** Like gql() but throws on any error: for the steps of a story that must succeed. */
export async function gqlOk<T = Record<string, unknown>>(
  url: string,
  key: string | null,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<T> {
  const r = await gql<T>(url, key, query, variables);
  if (r.errors?.length || !r.data) throw new Error(`GraphQL errors: ${JSON.stringify(r.errors)}`);
  return r.data;
}

export const errorCodes = (r: GraphQLResponse<unknown>): string[] => (r.errors ?? []).map((e) => e.extensions?.code ?? '?');

/** A graphql-ws subscription that collects what arrives; `close()` ends it. */
export interface Collected<T> {
  readonly items: T[];
  readonly error: () => unknown;
  /** Resolves once the server has acknowledged the connection and had a moment to register the subscription. */
  readonly ready: Promise<void>;
  waitFor(pred: (items: readonly T[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export function subscribe<T>(wsUrl: string, key: string, query: string, variables: Record<string, unknown> = {}): Collected<T> {
  const client: Client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${key}` },
    retryAttempts: 0,
    lazy: false,
  });
  const items: T[] = [];
  let error: unknown = null;
  const ready = new Promise<void>((resolve) => {
    client.on('connected', () => setTimeout(resolve, 100));
  });
  const stop = client.subscribe<T>(
    { query, variables },
    {
      next: (v) => {
        if (v.errors?.length) error = v.errors;
        else if (v.data) items.push(v.data as T);
      },
      error: (e) => {
        error = e;
      },
      complete: () => undefined,
    },
  );
  return {
    items,
    ready,
    error: () => error,
    async waitFor(pred, timeoutMs = 10_000) {
      await until(() => pred(items) || error !== null, timeoutMs, 'subscription condition');
      if (error !== null && !pred(items)) throw new Error(`subscription failed: ${JSON.stringify(error)}`);
    },
    async close() {
      stop();
      await client.dispose();
    },
  };
}

/** Polls until cond() holds; fails with `what` after timeoutMs. */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
