/**
 * Scenario e: error-report ingest. N connected devices each publish `up/error-reports` messages of B events at
 * QoS 1 (a bounded number in flight per device), in rounds of M messages with fresh event IDs, for at least a
 * fixed time, to Spheregate — which validates and stores every event before its PUBACK — on SQLite and on
 * PostgreSQL, and to bare Aedes, which only acknowledges. Every broker gets the same kind of payload, alternating
 * the order over the repetitions, in the same run.
 *
 * Reported per broker: events/s until the last PUBACK, the broker's own CPU ms per event, p50/p99 time to PUBACK,
 * and lost events: for Spheregate, events acknowledged minus events stored (the tenant's errorSummary before and
 * after); for bare Aedes, messages acknowledged minus messages the broker processed, times B.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ErrorReports } from '../contract/mqtt/messages.js';
import { downFilter, upTopic } from '../contract/mqtt/topics.js';
import { createPostgresDatabase, dropPostgresDatabase, withDatabaseName } from '../infra/db/postgres-admin.js';
import { startBareAedesChild, startSpheregateChild } from './child-process.js';
import { connectStorm, type StormClient, type StormDevice } from './connect-storm.js';
import { gql, setUpFleet } from './fleet.js';
import { median, percentile, spread, type Spread } from './stats.js';
import { pkiFilesOf, startBareAedesTarget, startSpheregateTarget, type BareAedesTarget, type BrokerTarget, type RunningSpheregate } from './targets.js';

export type DatabaseKind = 'sqlite' | 'postgresql';
export type IngestTarget = 'spheregate-sqlite' | 'spheregate-postgresql' | 'bare-aedes';
export const DEFAULT_PG_ADMIN_URL = 'postgres://root@127.0.0.1:5432/test';

export interface ErrorIngestOptions {
  readonly devices: number;
  /**
   * Messages per device in one round. Each device sends rounds (fresh event IDs each) until `minSeconds` have
   * passed, so a fast broker is measured over as long a time as a slow one, not over a blink.
   */
  readonly messagesPerDevice: number;
  readonly eventsPerMessage: number;
  /** @default 15 */
  readonly minSeconds?: number;
  readonly reps: number;
  readonly databases: readonly DatabaseKind[];
  /** Where a fresh PostgreSQL database is made for the run (and dropped after). @default DEFAULT_PG_ADMIN_URL */
  readonly postgresAdminUrl?: string;
  /** Messages awaiting PUBACK per device at once. @default 4 */
  readonly inFlightPerDevice?: number;
  /** Each broker in its own process (see run.ts). Off: all in this process (the smoke test). */
  readonly isolate: boolean;
  readonly onProgress?: (line: string) => void;
}

export interface IngestMeasurement {
  /** Events whose message got its PUBACK. */
  readonly eventsAcknowledged: number;
  readonly eventsPerSecond: number;
  readonly messagesPerSecond: number;
  readonly brokerCpuMsPerEvent: number;
  readonly p50PubackMs: number;
  readonly p99PubackMs: number;
  /** Acknowledged but not stored (Spheregate) or not processed (bare Aedes). */
  readonly lostEvents: number;
  /** Messages that never got their PUBACK (the connection closed first). */
  readonly unacknowledgedMessages: number;
  /** `down/error` replies: events the service refused. */
  readonly errorReplies: number;
}

export const INGEST_METRICS: ReadonlyArray<keyof IngestMeasurement> = [
  'eventsAcknowledged',
  'eventsPerSecond',
  'messagesPerSecond',
  'brokerCpuMsPerEvent',
  'p50PubackMs',
  'p99PubackMs',
  'lostEvents',
  'unacknowledgedMessages',
  'errorReplies',
];

export interface ErrorIngestReport {
  readonly scenario: 'error-ingest';
  readonly devices: number;
  readonly messagesPerDevice: number;
  readonly eventsPerMessage: number;
  readonly minSeconds: number;
  readonly inFlightPerDevice: number;
  readonly reps: number;
  readonly isolated: boolean;
  readonly targets: readonly IngestTarget[];
  readonly runs: Partial<Record<IngestTarget, readonly IngestMeasurement[]>>;
  readonly medians: Partial<Record<IngestTarget, Readonly<Record<keyof IngestMeasurement, Spread>>>>;
  /** Each Spheregate target's median over bare Aedes's, per metric. */
  readonly ratios: Partial<Record<IngestTarget, Readonly<Record<keyof IngestMeasurement, number>>>>;
}

/** A Spheregate data dir (and database) with a tenant and its claimed devices, made once per database kind. */
interface Installation {
  readonly kind: DatabaseKind;
  readonly dataDir: string;
  readonly env: Readonly<Record<string, string>>;
  readonly tenantKey: string;
  readonly devices: readonly StormDevice[];
  readonly rootCaPem: string;
}

export async function runErrorIngest(opts: ErrorIngestOptions): Promise<ErrorIngestReport> {
  const say = opts.onProgress ?? (() => undefined);
  const window = opts.inFlightPerDevice ?? 4;
  const minSeconds = opts.minSeconds ?? 15;
  const pgAdminUrl = opts.postgresAdminUrl ?? DEFAULT_PG_ADMIN_URL;
  const workDir = await mkdtemp(join(tmpdir(), 'sg-bench-ingest-'));
  const pgDatabases: string[] = [];
  try {
    const installations = new Map<DatabaseKind, Installation>();
    for (const kind of opts.databases) {
      const env: Record<string, string> = { SPHEREGATE_ERROR_RATE_LIMIT: '1000000' }; // the hourly limit is not what we measure
      if (kind === 'postgresql') {
        const name = `sg_bench_${randomBytes(6).toString('hex')}`;
        await createPostgresDatabase(pgAdminUrl, name);
        pgDatabases.push(name);
        env['DATABASE_URL'] = withDatabaseName(pgAdminUrl, name);
      }
      const dataDir = join(workDir, kind);
      say(`error-ingest: ${kind}: manufacturing and claiming ${opts.devices} devices`);
      const fleet = await setUpFleet(dataDir, { env }, opts.devices);
      installations.set(kind, { kind, dataDir, env, tenantKey: fleet.tenantKey, devices: fleet.devices, rootCaPem: fleet.rootCaPem });
    }
    const first = installations.values().next().value;
    if (!first) throw new Error('error-ingest needs at least one database kind');
    const targets: IngestTarget[] = [...opts.databases.map((k): IngestTarget => `spheregate-${k}`), 'bare-aedes'];

    const start = async (name: IngestTarget): Promise<{ target: BrokerTarget; install: Installation; processed: () => Promise<number> }> => {
      if (name === 'bare-aedes') {
        // Bare Aedes trusts the same manufacturing CA, so the first installation's devices connect to it as they are.
        const aedes: BareAedesTarget = opts.isolate ? await startBareAedesChild(first.dataDir) : await startBareAedesTarget(pkiFilesOf(first.dataDir));
        return { target: aedes, install: first, processed: async () => (await aedes.receivedPublishes()) * opts.eventsPerMessage };
      }
      const install = installations.get(name === 'spheregate-sqlite' ? 'sqlite' : 'postgresql');
      if (!install) throw new Error(`no installation for ${name}`);
      const sg: RunningSpheregate = opts.isolate ? await startSpheregateChild(install.dataDir, { env: install.env }) : await startSpheregateTarget(install.dataDir, { env: install.env });
      return { target: sg, install, processed: () => storedEvents(sg.graphqlUrl, install.tenantKey) };
    };

    const runs: Partial<Record<IngestTarget, IngestMeasurement[]>> = {};
    for (let rep = 0; rep < opts.reps; rep++) {
      // Alternate the order, so no broker always runs on a warmer (or more tired) machine.
      const order = targets.map((_, i) => targets[(i + rep) % targets.length] as IngestTarget);
      for (const name of order) {
        const { target, install, processed } = await start(name);
        try {
          const m = await measure(target, install, processed, { ...opts, window, minSeconds });
          (runs[name] ??= []).push(m);
          say(
            `error-ingest rep ${rep + 1}/${opts.reps} ${name}: ${m.eventsPerSecond.toFixed(0)} events/s, ${m.brokerCpuMsPerEvent.toFixed(3)} CPU ms/event, ` +
              `PUBACK p99 ${m.p99PubackMs.toFixed(0)} ms, ${m.lostEvents} lost, ${m.unacknowledgedMessages} unacknowledged, ${m.errorReplies} refusals`,
          );
        } finally {
          await target.close();
        }
      }
    }

    const medians = Object.fromEntries(
      targets.map((t) => [t, Object.fromEntries(INGEST_METRICS.map((m) => [m, spread((runs[t] ?? []).map((r) => r[m]))]))]),
    ) as ErrorIngestReport['medians'];
    const bare = medians['bare-aedes'];
    const ratios = Object.fromEntries(
      targets
        .filter((t) => t !== 'bare-aedes')
        .map((t) => [t, Object.fromEntries(INGEST_METRICS.map((m) => [m, (medians[t]?.[m].median ?? Number.NaN) / (bare?.[m].median || Number.NaN)]))]),
    ) as ErrorIngestReport['ratios'];
    return {
      scenario: 'error-ingest',
      devices: opts.devices,
      messagesPerDevice: opts.messagesPerDevice,
      eventsPerMessage: opts.eventsPerMessage,
      minSeconds,
      inFlightPerDevice: window,
      reps: opts.reps,
      isolated: opts.isolate,
      targets,
      runs,
      medians,
      ratios,
    };
  } finally {
    for (const name of pgDatabases) await dropPostgresDatabase(pgAdminUrl, name).catch((e: unknown) => say(`could not drop ${name}: ${String(e)}`));
    await rm(workDir, { recursive: true, force: true });
  }
}

/** Events the tenant has stored (counts summed: the bench sends count 1), plus those the hourly limit turned away. */
async function storedEvents(graphqlUrl: string, tenantKey: string): Promise<number> {
  const { errorSummary } = await gql<{ errorSummary: { rows: Array<{ eventCount: number }>; rateLimitedCount: number } }>(
    graphqlUrl,
    tenantKey,
    '{ errorSummary { rows { eventCount } rateLimitedCount } }',
  );
  if (errorSummary.rateLimitedCount > 0) throw new Error(`${errorSummary.rateLimitedCount} events were rate-limited: raise SPHEREGATE_ERROR_RATE_LIMIT`);
  return errorSummary.rows.reduce((sum, row) => sum + row.eventCount, 0);
}

/** One round of a device's messages: B OSCrash events each, fresh random event IDs, happening now. */
function round(messages: number, events: number): Buffer[] {
  const now = new Date().toISOString();
  return Array.from({ length: messages }, () => {
    const batch: ErrorReports = {
      v: 1,
      events: Array.from({ length: events }, () => ({ eventId: randomUUID(), category: 'OSCrash' as const, count: 1, startTime: now, endTime: now })),
    };
    return Buffer.from(JSON.stringify(batch));
  });
}

interface MeasureOptions {
  readonly messagesPerDevice: number;
  readonly eventsPerMessage: number;
  readonly window: number;
  readonly minSeconds: number;
}

async function measure(target: BrokerTarget, install: Installation, processed: () => Promise<number>, opts: MeasureOptions): Promise<IngestMeasurement> {
  const storm = await connectStorm({ port: target.mqttPort, rootCaPem: install.rootCaPem, devices: install.devices });
  try {
    if (storm.result.failed > 0) throw new Error(`${storm.result.failed} devices could not connect: ${storm.result.errors.join('; ')}`);
    let errorReplies = 0;
    await Promise.all(
      storm.clients.map(async ({ deviceId, client }) => {
        client.on('message', (topic) => {
          if (topic.endsWith('/down/error')) errorReplies++;
        });
        await client.subscribeAsync(downFilter(deviceId), { qos: 1 });
      }),
    );
    // The first round is encoded before the clock starts; later ones (fast brokers only) as they are needed.
    const firstRounds = storm.clients.map(() => round(opts.messagesPerDevice, opts.eventsPerMessage));
    const processedBefore = await processed();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const before = await target.usage();
    const begin = performance.now();
    const deadline = begin + opts.minSeconds * 1000;
    const outcomes = await Promise.all(
      storm.clients.map((c, i) => publishAll(c, payloadSource(firstRounds[i] ?? [], () => round(opts.messagesPerDevice, opts.eventsPerMessage), deadline), opts.window)),
    );
    const durationMs = performance.now() - begin;
    const after = await target.usage();
    const processedAfter = await processed();
    const acked = outcomes.reduce((n, o) => n + o.acked, 0);
    const ackedEvents = acked * opts.eventsPerMessage;
    const latencies = outcomes.flatMap((o) => o.latenciesMs);
    return {
      eventsAcknowledged: ackedEvents,
      eventsPerSecond: ackedEvents / (durationMs / 1000),
      messagesPerSecond: acked / (durationMs / 1000),
      brokerCpuMsPerEvent: (after.cpuMs - before.cpuMs) / Math.max(1, ackedEvents),
      p50PubackMs: median(latencies),
      p99PubackMs: percentile(latencies, 0.99),
      lostEvents: ackedEvents - (processedAfter - processedBefore),
      unacknowledgedMessages: outcomes.reduce((n, o) => n + o.unacknowledged, 0),
      errorReplies,
    };
  } finally {
    await storm.release();
  }
}

/** A device's next message: through the current round, then a fresh round while the deadline has not passed. */
function payloadSource(first: Buffer[], makeRound: () => Buffer[], deadline: number): () => Buffer | null {
  let queue = first;
  let next = 0;
  return () => {
    if (next >= queue.length) {
      if (performance.now() >= deadline) return null;
      queue = makeRound();
      next = 0;
    }
    return queue[next++] ?? null;
  };
}

/**
 * One device's messages at QoS 1, `window` awaiting PUBACK at once (the lanes share one source, so the window
 * never drains between rounds); stops early if its connection closes.
 */
async function publishAll({ deviceId, client }: StormClient, nextPayload: () => Buffer | null, window: number): Promise<{ acked: number; unacknowledged: number; latenciesMs: number[] }> {
  const topic = upTopic(deviceId, 'error-reports');
  const latenciesMs: number[] = [];
  // mqtt.js keeps an unacknowledged publish pending for ever once the connection is gone (no reconnect here).
  const closed = new Promise<'closed'>((resolve) => client.once('close', () => resolve('closed')));
  let acked = 0;
  let unacknowledged = 0;
  const lane = async (): Promise<void> => {
    for (let payload = nextPayload(); payload; payload = nextPayload()) {
      const started = performance.now();
      const sent = client.publishAsync(topic, payload, { qos: 1 }).then(
        () => 'acked' as const,
        () => 'failed' as const,
      );
      if ((await Promise.race([sent, closed])) !== 'acked') {
        unacknowledged++;
        return;
      }
      latenciesMs.push(performance.now() - started);
      acked++;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, window) }, lane));
  return { acked, unacknowledged, latenciesMs };
}
