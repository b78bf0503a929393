/**
 * `npm run bench [-- --only <scenarios> --devices N --reps R …]`: runs the benchmark scenarios and writes
 * bench/results/<scenario>.json for each one run, then bench/RESULTS.md from every stored result (scenarios not
 * run this time keep their last numbers, marked as from an earlier run). Never part of `npm test`
 * (bench/smoke.test.ts runs the same code with tiny counts).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runAttestation, type AttestationReport } from './attestation.js';
import { DEFAULT_PG_ADMIN_URL, runErrorIngest, type DatabaseKind, type ErrorIngestReport } from './error-ingest.js';
import { runGraphql, type GraphqlReport } from './graphql.js';
import { runHold, type HoldReport } from './hold.js';
import {
  renderAttestation,
  renderConnectStorm,
  renderErrorIngest,
  renderGraphql,
  renderHeader,
  renderHold,
  renderProvenance,
  renderReconnectStorm,
  renderRollout,
  type Facts,
} from './render.js';
import { runReconnectStorm, type ReconnectStormReport } from './reconnect-storm.js';
import { runRollout, type RolloutReport } from './rollout.js';
import { runConnectStorm, type ConnectStormReport } from './run.js';

const SCENARIOS = ['connect-storm', 'reconnect-storm', 'attestation', 'error-ingest', 'graphql', 'rollout', 'hold'] as const;
type Scenario = (typeof SCENARIOS)[number];

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    devices: { type: 'string' },
    reps: { type: 'string' },
    'ingest-devices': { type: 'string' },
    'ingest-messages': { type: 'string' },
    'ingest-events': { type: 'string' },
    'ingest-in-flight': { type: 'string' },
    'ingest-seconds': { type: 'string' },
    databases: { type: 'string' },
    'postgres-url': { type: 'string' },
    'gql-devices': { type: 'string' },
    'gql-clients': { type: 'string' },
    'gql-seconds': { type: 'string' },
    subscribers: { type: 'string' },
    sockets: { type: 'string' },
    'fanout-events': { type: 'string' },
    'rollout-devices': { type: 'string' },
    'image-kib': { type: 'string' },
    'hold-devices': { type: 'string' },
    'hold-minutes': { type: 'string' },
    'hold-sample-seconds': { type: 'string' },
  },
});

const positive = (name: keyof typeof values, fallback: number): number => {
  const raw = values[name];
  const n = Number(raw ?? fallback);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${String(raw)}`);
  return n;
};
/** A positive number, fractions allowed (e.g. --hold-minutes 0.5). */
const positiveNumber = (name: keyof typeof values, fallback: number): number => {
  const raw = values[name];
  const n = Number(raw ?? fallback);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${String(raw)}`);
  return n;
};
const list = <T extends string>(name: keyof typeof values, allowed: readonly T[]): T[] => {
  const raw = values[name];
  if (typeof raw !== 'string') return [...allowed];
  const items = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const item of items) if (!allowed.includes(item as T)) throw new Error(`--${name}: unknown "${item}" (one of ${allowed.join(', ')})`);
  return items as T[];
};

const only = new Set<Scenario>(list('only', SCENARIOS));
const devices = positive('devices', 2000);
const reps = positive('reps', 3);

const root = fileURLToPath(new URL('../../', import.meta.url));
const resultsDir = join(root, 'bench', 'results');
const progress = (line: string): void => console.error(line);
await mkdir(resultsDir, { recursive: true });
const facts = await machineFacts(root);

interface Stored<R> {
  readonly facts: Facts;
  readonly report: R;
}

/** Runs the scenario when asked for and stores it; otherwise reads its last stored result, if any. */
async function scenario<R>(name: Scenario, run: () => Promise<R>): Promise<Stored<R> | null> {
  const file = join(resultsDir, `${name}.json`);
  if (only.has(name)) {
    const report = await run();
    // Other work on the machine skews every number here: say how busy it was.
    const stored: Stored<R> = { facts: { ...facts, 'load average after': loadAverage() }, report };
    await writeFile(file, `${JSON.stringify(stored, null, 2)}\n`);
    return stored;
  }
  return readFile(file, 'utf8').then(
    (text) => JSON.parse(text) as Stored<R>,
    () => null,
  );
}

const storm = await scenario<ConnectStormReport>('connect-storm', () => runConnectStorm({ devices, reps, isolate: true, onProgress: progress }));
const reconnect = await scenario<ReconnectStormReport>('reconnect-storm', () => runReconnectStorm({ devices, reps, isolate: true, onProgress: progress }));
const attestation = await scenario<AttestationReport>('attestation', () => runAttestation({ devices: Math.min(devices, 1000), reps, onProgress: progress }));
const ingest = await scenario<ErrorIngestReport>('error-ingest', () =>
  runErrorIngest({
    devices: positive('ingest-devices', 50),
    messagesPerDevice: positive('ingest-messages', 4),
    eventsPerMessage: positive('ingest-events', 10),
    inFlightPerDevice: positive('ingest-in-flight', 4),
    minSeconds: positive('ingest-seconds', 15),
    databases: list<DatabaseKind>('databases', ['sqlite', 'postgresql']),
    postgresAdminUrl: values['postgres-url'] ?? DEFAULT_PG_ADMIN_URL,
    reps,
    isolate: true,
    onProgress: progress,
  }),
);
const graphql = await scenario<GraphqlReport>('graphql', () =>
  runGraphql({
    devices: positive('gql-devices', 200),
    concurrency: positive('gql-clients', 16),
    durationMs: positive('gql-seconds', 10) * 1000,
    subscribers: positive('subscribers', 1000),
    sockets: positive('sockets', 100),
    fanoutEvents: positive('fanout-events', 20),
    reps,
    isolate: true,
    onProgress: progress,
  }),
);
const rollout = await scenario<RolloutReport>('rollout', () =>
  runRollout({ devices: positive('rollout-devices', 1000), imageBytes: positive('image-kib', 256) * 1024, reps, isolate: true, onProgress: progress }),
);
const hold = await scenario<HoldReport>('hold', () =>
  runHold({
    devices: positive('hold-devices', 5000),
    holdMs: positiveNumber('hold-minutes', 10) * 60_000,
    sampleEveryMs: positiveNumber('hold-sample-seconds', 10) * 1000,
    isolate: true,
    onProgress: progress,
  }),
);

const sections = [
  storm && renderConnectStorm(storm.report, renderProvenance(storm.facts, facts)),
  reconnect && renderReconnectStorm(reconnect.report, renderProvenance(reconnect.facts, facts)),
  attestation && renderAttestation(attestation.report, renderProvenance(attestation.facts, facts)),
  ingest && renderErrorIngest(ingest.report, renderProvenance(ingest.facts, facts)),
  graphql && renderGraphql(graphql.report, renderProvenance(graphql.facts, facts)),
  rollout && renderRollout(rollout.report, renderProvenance(rollout.facts, facts)),
  hold && renderHold(hold.report, renderProvenance(hold.facts, facts)),
].filter((s): s is string => typeof s === 'string');
const markdown = [renderHeader(facts), ...sections].join('\n');
await writeFile(join(root, 'bench', 'RESULTS.md'), markdown);
console.log(markdown);

/** 1, 5 and 15 minutes; on 2 cores, anything well above the bench's own ~2 means other processes competed. */
function loadAverage(): string {
  return loadavg()
    .map((n) => n.toFixed(2))
    .join(' / ');
}

async function machineFacts(repo: string): Promise<Record<string, string>> {
  const pkg = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const run = (cmd: string, args: string[]): string => {
    try {
      return execFileSync(cmd, args, { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    } catch (e) {
      const out = e as { stdout?: string; stderr?: string };
      return `${out.stdout ?? ''}${out.stderr ?? ''}`.trim().split('\n')[0] ?? '?';
    }
  };
  return {
    date: new Date().toISOString(),
    commit: run('git', ['rev-parse', '--short', 'HEAD']),
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
    node: process.version,
    aedes: pkg.dependencies['aedes'] ?? '?',
    mosquitto: run('mosquitto', ['-h']).split('\n')[0] ?? '?',
    '@apollo/server': pkg.dependencies['@apollo/server'] ?? '?',
    'graphql-ws': pkg.dependencies['graphql-ws'] ?? '?',
    postgresql: run('psql', ['-At', '-d', values['postgres-url'] ?? DEFAULT_PG_ADMIN_URL, '-c', 'show server_version']),
    'load average before': loadAverage(),
  };
}
