/**
 * Scenario f: the GraphQL gateway.
 *
 * 1. Query: `devices(first: 50)` over D claimed devices, driven by a closed loop of K keep-alive clients for a
 *    fixed time, against Apollo (Spheregate's gateway), against graphql-http serving the same schema, resolvers
 *    and context (the baseline) and against a plain node:http handler calling the same domain call (the
 *    resolver's floor; all in bench/fronts.ts). All three are served by the same process (Spheregate's, in its
 *    own process when isolated), in a rotating order. Requests/s, p50/p99 latency and the server's CPU ms per
 *    request.
 * 2. Fan-out: S WebSocket connections × k subscriptions to `deviceStatusChanged`; one claimed device goes online
 *    and offline over MQTT E times; per delivery, the delay from the event's time to its receipt. Floor: a bare
 *    `ws` server broadcasting the same JSON to the same number of subscriptions (bench/fronts.ts).
 */
import { isDeepStrictEqual } from 'node:util';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSpheregateChild } from './child-process.js';
import { connectStorm, type StormDevice } from './connect-storm.js';
import { DeliveryLog, openFloorSubscribers, openGraphqlSubscribers, type Subscribers } from './fanout.js';
import { setUpFleet } from './fleet.js';
import { DEVICES_QUERY } from './fronts.js';
import { closedLoop, keepAliveAgent } from './http-load.js';
import { median, percentile, spread, type Spread } from './stats.js';
import { startSpheregateTarget, type FrontsHandle, type RunningSpheregate } from './targets.js';

export interface GraphqlOptions {
  /** Claimed devices in the tenant the query pages through. */
  readonly devices: number;
  readonly reps: number;
  /** Closed-loop clients. @default 16 */
  readonly concurrency?: number;
  /** Measured time per query target and repetition. @default 10000 */
  readonly durationMs?: number;
  /** Unmeasured load before each measured phase (JIT, caches, connection pool). @default 2000 */
  readonly warmupMs?: number;
  /** Subscriptions in total, spread over `sockets` WebSocket connections. @default 1000 */
  readonly subscribers?: number;
  /** @default 100 */
  readonly sockets?: number;
  /** Status events (online and offline alternately) measured per fan-out target and repetition. @default 20 */
  readonly fanoutEvents?: number;
  readonly isolate: boolean;
  readonly onProgress?: (line: string) => void;
}

export interface QueryMeasurement {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly serverCpuMsPerRequest: number;
  readonly failed: number;
}

export interface FanoutMeasurement {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly serverCpuMsPerDelivery: number;
  readonly deliveries: number;
  readonly missed: number;
}

export const QUERY_METRICS: ReadonlyArray<keyof QueryMeasurement> = ['requestsPerSecond', 'p50Ms', 'p99Ms', 'serverCpuMsPerRequest', 'failed'];
export const FANOUT_METRICS: ReadonlyArray<keyof FanoutMeasurement> = ['p50Ms', 'p99Ms', 'maxMs', 'serverCpuMsPerDelivery', 'deliveries', 'missed'];

interface Compared<M, A extends string, B extends string> {
  readonly runs: Readonly<Record<A | B, readonly M[]>>;
  readonly medians: Readonly<Record<A | B, Readonly<Record<keyof M, Spread>>>>;
  /** The first side's median over the second's (Spheregate over its baseline), per metric. */
  readonly ratios: Readonly<Record<keyof M, number>>;
}

/** Apollo and the baselines it is compared with, in the order of the first repetition. */
export const QUERY_SIDES = ['apollo', 'graphql-http', 'plain-http'] as const;
export type QuerySide = (typeof QUERY_SIDES)[number];
export type QueryBaseline = Exclude<QuerySide, 'apollo'>;

export interface QueryComparison {
  readonly runs: Readonly<Record<QuerySide, readonly QueryMeasurement[]>>;
  readonly medians: Readonly<Record<QuerySide, Readonly<Record<keyof QueryMeasurement, Spread>>>>;
  /** Apollo's median over each baseline's, per metric. */
  readonly ratios: Readonly<Record<QueryBaseline, Readonly<Record<keyof QueryMeasurement, number>>>>;
}

export interface GraphqlReport {
  readonly scenario: 'graphql';
  readonly devices: number;
  readonly reps: number;
  readonly isolated: boolean;
  readonly concurrency: number;
  readonly durationMs: number;
  readonly subscribers: number;
  readonly sockets: number;
  readonly fanoutEvents: number;
  readonly query: QueryComparison;
  readonly fanout: Compared<FanoutMeasurement, 'spheregate', 'bare-ws'>;
}

/** A fan-out event should reach every subscriber well within this; later counts as missed. */
const DELIVERY_TIMEOUT_MS = 15_000;

export async function runGraphql(opts: GraphqlOptions): Promise<GraphqlReport> {
  const say = opts.onProgress ?? (() => undefined);
  const concurrency = opts.concurrency ?? 16;
  const durationMs = opts.durationMs ?? 10_000;
  const warmupMs = opts.warmupMs ?? 2000;
  const sockets = opts.sockets ?? 100;
  const perSocket = Math.max(1, Math.round((opts.subscribers ?? 1000) / sockets));
  const fanoutEvents = opts.fanoutEvents ?? 20;
  const workDir = await mkdtemp(join(tmpdir(), 'sg-bench-gql-'));
  try {
    const dataDir = join(workDir, 'spheregate');
    say(`graphql: manufacturing and claiming ${opts.devices} devices`);
    const fleet = await setUpFleet(dataDir, {}, opts.devices);
    const { tenantKey } = fleet;
    const fanoutDevice = fleet.devices[0];
    if (!fanoutDevice) throw new Error('graphql needs at least one device');

    const query: Record<QuerySide, QueryMeasurement[]> = { apollo: [], 'graphql-http': [], 'plain-http': [] };
    const fanout: Record<'spheregate' | 'bare-ws', FanoutMeasurement[]> = { spheregate: [], 'bare-ws': [] };
    for (let rep = 0; rep < opts.reps; rep++) {
      // One fresh Spheregate process per repetition serves both sides; the order alternates.
      const host = opts.isolate ? await startSpheregateChild(dataDir, { fronts: true }) : await startSpheregateTarget(dataDir, { fronts: true });
      try {
        const fronts = host.fronts;
        if (!fronts) throw new Error('started without fronts');
        const urls: Record<QuerySide, string> = { apollo: host.graphqlUrl, 'graphql-http': fronts.graphqlHttpUrl, 'plain-http': fronts.plainUrl };
        await sameAnswers(urls, tenantKey);
        // Each side leads in turn, so none always meets a cold or a warmed-up process.
        for (const side of QUERY_SIDES.map((_, i) => QUERY_SIDES[(i + rep) % QUERY_SIDES.length] as QuerySide)) {
          const m = await measureQuery(host, urls[side], tenantKey, { concurrency, durationMs, warmupMs });
          query[side].push(m);
          say(`graphql rep ${rep + 1}/${opts.reps} ${side}: ${m.requestsPerSecond.toFixed(0)} req/s, p50 ${m.p50Ms.toFixed(1)} ms, p99 ${m.p99Ms.toFixed(1)} ms, ${m.serverCpuMsPerRequest.toFixed(3)} CPU ms/req, ${m.failed} failed`);
        }
        for (const side of rep % 2 === 0 ? (['spheregate', 'bare-ws'] as const) : (['bare-ws', 'spheregate'] as const)) {
          const m =
            side === 'spheregate'
              ? await measureSpheregateFanout(host, tenantKey, fanoutDevice, { sockets, perSocket, events: fanoutEvents })
              : await measureFloorFanout(host, fronts, { sockets, perSocket, events: fanoutEvents });
          fanout[side].push(m);
          say(`graphql rep ${rep + 1}/${opts.reps} fan-out ${side}: p50 ${m.p50Ms.toFixed(0)} ms, p99 ${m.p99Ms.toFixed(0)} ms, ${m.serverCpuMsPerDelivery.toFixed(3)} CPU ms/delivery, ${m.deliveries} delivered, ${m.missed} missed`);
        }
      } finally {
        await host.close();
      }
    }
    return {
      scenario: 'graphql',
      devices: opts.devices,
      reps: opts.reps,
      isolated: opts.isolate,
      concurrency,
      durationMs,
      subscribers: sockets * perSocket,
      sockets,
      fanoutEvents,
      query: compareQuery(query),
      fanout: compare(fanout, 'spheregate', 'bare-ws', FANOUT_METRICS),
    };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

function compare<M extends object, A extends string, B extends string>(runs: Record<A | B, M[]>, a: A, b: B, metrics: ReadonlyArray<keyof M>): Compared<M, A, B> {
  const stats = (side: A | B) => Object.fromEntries(metrics.map((m) => [m, spread(runs[side].map((r) => Number(r[m])))])) as Record<keyof M, Spread>;
  const medians = { [a]: stats(a), [b]: stats(b) } as Record<A | B, Record<keyof M, Spread>>;
  const ratios = Object.fromEntries(metrics.map((m) => [m, medians[a][m].median / (medians[b][m].median || Number.NaN)])) as Record<keyof M, number>;
  return { runs, medians, ratios };
}

function compareQuery(runs: Record<QuerySide, QueryMeasurement[]>): QueryComparison {
  const vs = (baseline: QueryBaseline) => compare(runs, 'apollo', baseline, QUERY_METRICS);
  const graphqlHttp = vs('graphql-http');
  const plain = vs('plain-http');
  return { runs, medians: { ...graphqlHttp.medians, ...plain.medians }, ratios: { 'graphql-http': graphqlHttp.ratios, 'plain-http': plain.ratios } };
}

/** The baselines must answer exactly what Apollo answers, or the comparison means nothing. */
async function sameAnswers(urls: Readonly<Record<QuerySide, string>>, key: string): Promise<void> {
  const ask = async (url: string): Promise<unknown> => {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ query: DEVICES_QUERY }) });
    return res.json();
  };
  const apollo = await ask(urls.apollo);
  for (const side of ['graphql-http', 'plain-http'] as const) {
    const other = await ask(urls[side]);
    if (!isDeepStrictEqual(apollo, other)) throw new Error(`${side} answers differently:\n${JSON.stringify(apollo).slice(0, 300)}\n${JSON.stringify(other).slice(0, 300)}`);
  }
}

async function measureQuery(
  host: RunningSpheregate,
  url: string,
  key: string,
  opts: { concurrency: number; durationMs: number; warmupMs: number },
): Promise<QueryMeasurement> {
  const agent = keepAliveAgent(opts.concurrency);
  const load = { url, headers: { authorization: `Bearer ${key}` }, body: JSON.stringify({ query: DEVICES_QUERY }), concurrency: opts.concurrency };
  try {
    await closedLoop({ ...load, durationMs: opts.warmupMs }, agent);
    const before = await host.usage();
    const r = await closedLoop({ ...load, durationMs: opts.durationMs }, agent);
    const after = await host.usage();
    if (r.failed > 0) throw new Error(`${r.failed} requests to ${url} failed; first: ${r.firstFailure ?? '?'}`);
    return {
      requestsPerSecond: r.requests / (r.durationMs / 1000),
      p50Ms: median(r.latenciesMs),
      p99Ms: percentile(r.latenciesMs, 0.99),
      serverCpuMsPerRequest: (after.cpuMs - before.cpuMs) / Math.max(1, r.requests),
      failed: r.failed,
    };
  } finally {
    agent.destroy();
  }
}

interface FanoutShape {
  readonly sockets: number;
  readonly perSocket: number;
  readonly events: number;
}

/**
 * Runs `trigger` (which makes event i happen: online when i is even) until one event reaches every subscriber
 * (warm-up: subscriptions register asynchronously), then `events` more, measured.
 */
async function driveFanout(
  host: RunningSpheregate,
  subscribers: Subscribers,
  log: DeliveryLog,
  shape: FanoutShape,
  trigger: (online: boolean) => Promise<void>,
): Promise<FanoutMeasurement> {
  let i = 0;
  const step = async (): Promise<number> => {
    const online = i++ % 2 === 0;
    const known = log.keys();
    await trigger(online);
    return log.awaitNew(known, online, subscribers.total, DELIVERY_TIMEOUT_MS);
  };
  for (let attempt = 0; (await step()) < subscribers.total; attempt++) {
    if (attempt >= 5) throw new Error('fan-out warm-up: no event reached every subscriber');
  }
  if (i % 2 === 1) await step(); // start measuring from offline, so measured events alternate online/offline evenly
  log.latenciesMs.length = 0;
  const before = await host.usage();
  let delivered = 0;
  for (let n = 0; n < shape.events; n++) delivered += await step();
  const after = await host.usage();
  const latencies = [...log.latenciesMs];
  return {
    p50Ms: median(latencies),
    p99Ms: percentile(latencies, 0.99),
    maxMs: latencies.length ? Math.max(...latencies) : Number.NaN,
    serverCpuMsPerDelivery: (after.cpuMs - before.cpuMs) / Math.max(1, delivered),
    deliveries: delivered,
    missed: shape.events * subscribers.total - delivered,
  };
}

async function measureSpheregateFanout(host: RunningSpheregate, key: string, device: StormDevice, shape: FanoutShape): Promise<FanoutMeasurement> {
  const log = new DeliveryLog();
  const wsUrl = host.graphqlUrl.replace(/^http/, 'ws');
  const subscribers = await openGraphqlSubscribers(wsUrl, key, shape.sockets, shape.perSocket, log);
  const connection: { release: (() => Promise<void>) | null } = { release: null };
  try {
    // The device itself, over MQTT with its identity certificate: connecting makes it online, closing offline.
    return await driveFanout(host, subscribers, log, shape, async (online) => {
      if (online) {
        const storm = await connectStorm({ port: host.mqttPort, rootCaPem: host.rootCaPem, devices: [device] });
        if (storm.result.connected !== 1) throw new Error(`the fan-out device could not connect: ${storm.result.errors.join('; ')}`);
        connection.release = storm.release;
      } else {
        await connection.release?.();
        connection.release = null;
      }
    });
  } finally {
    await connection.release?.();
    await subscribers.close();
  }
}

async function measureFloorFanout(host: RunningSpheregate, fronts: FrontsHandle, shape: FanoutShape): Promise<FanoutMeasurement> {
  const log = new DeliveryLog();
  const subscribers = await openFloorSubscribers(fronts.floorWsUrl, shape.sockets, shape.perSocket, log);
  let seq = 0;
  try {
    return await driveFanout(host, subscribers, log, shape, async (online) => {
      if (online) seq++;
      await fronts.broadcast({ deviceId: 'floor', online, connectionSeq: seq });
    });
  } finally {
    await subscribers.close();
  }
}
