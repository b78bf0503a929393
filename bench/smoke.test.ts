/**
 * The benchmark's smoke mode, so it cannot rot: every scenario end to end with a handful of devices and one
 * repetition, against every broker and baseline (Mosquitto included), all in this process.
 */
import { TEST_DATABASES } from '../test/db.js';
import { runAttestation } from './attestation.js';
import { runErrorIngest } from './error-ingest.js';
import { runGraphql } from './graphql.js';
import { runHold } from './hold.js';
import { runReconnectStorm } from './reconnect-storm.js';
import { runRollout } from './rollout.js';
import { runConnectStorm } from './run.js';

test('the connect-storm scenario runs end to end against Spheregate, bare Aedes and Mosquitto', async () => {
  const report = await runConnectStorm({ devices: 4, reps: 1, isolate: false, concurrency: 2 });
  for (const target of ['spheregate', 'bare-aedes', 'mosquitto'] as const) {
    const [run] = report.runs[target];
    expect({ target, failed: run?.failed }).toEqual({ target, failed: 0 });
    expect(run?.connectionsPerSecond).toBeGreaterThan(0);
    expect(run?.p99ConnackMs).toBeGreaterThan(0);
    expect(Number.isFinite(run?.brokerCpuMsPerConnection)).toBe(true);
  }
  expect(Number.isFinite(report.ratios.vsMosquitto.connectionsPerSecond)).toBe(true);
  expect(Number.isFinite(report.ratios.vsBareAedes.p99ConnackMs)).toBe(true);
}, 120_000);

test('the reconnect-storm scenario connects cold, then resumes every TLS session, on Spheregate and bare Aedes', async () => {
  const report = await runReconnectStorm({ devices: 4, reps: 1, isolate: false, concurrency: 2 });
  for (const target of ['spheregate', 'bare-aedes'] as const) {
    const [run] = report.runs[target];
    expect({ target, cold: run?.cold.failed, resumed: run?.resumed.failed }).toEqual({ target, cold: 0, resumed: 0 });
    expect({ target, cold: run?.cold.resumedShare, resumed: run?.resumed.resumedShare }).toEqual({ target, cold: 0, resumed: 1 });
    expect(run?.resumed.p99ConnackMs).toBeGreaterThan(0);
    expect(Number.isFinite(run?.resumed.brokerCpuMsPerConnection)).toBe(true);
  }
  expect(Number.isFinite(report.resumedVsCold.spheregate.brokerCpuMsPerConnection)).toBe(true);
  expect(Number.isFinite(report.vsBareAedes.resumed.p99ConnackMs)).toBe(true);
}, 120_000);

test('the attestation scenario runs end to end and measures its floor', async () => {
  const report = await runAttestation({ devices: 3, reps: 1, concurrency: 2 });
  expect(report.failed).toBe(0);
  expect(report.certificatesPerSecond.median).toBeGreaterThan(0);
  expect(report.bareSigningPerSecond.median).toBeGreaterThan(0);
  expect(Number.isFinite(report.ratio)).toBe(true);
}, 120_000);

test('the error-ingest scenario stores every acknowledged event, on every test database, and counts bare Aedes', async () => {
  const report = await runErrorIngest({ devices: 2, messagesPerDevice: 3, eventsPerMessage: 4, minSeconds: 0, reps: 1, databases: TEST_DATABASES, isolate: false, inFlightPerDevice: 2 });
  expect(report.targets).toEqual([...TEST_DATABASES.map((k) => `spheregate-${k}`), 'bare-aedes']);
  for (const target of report.targets) {
    const [run] = report.runs[target] ?? [];
    expect({ target, lost: run?.lostEvents, unacknowledged: run?.unacknowledgedMessages, refused: run?.errorReplies }).toEqual({ target, lost: 0, unacknowledged: 0, refused: 0 });
    expect(run?.eventsPerSecond).toBeGreaterThan(0);
    expect(Number.isFinite(run?.brokerCpuMsPerEvent)).toBe(true);
  }
  expect(Number.isFinite(report.ratios[report.targets[0] ?? 'bare-aedes']?.eventsPerSecond)).toBe(true);
}, 60_000);

test('the GraphQL scenario answers like its baselines (graphql-http, plain handler) and fans out to every subscriber', async () => {
  const report = await runGraphql({ devices: 3, reps: 1, isolate: false, concurrency: 2, durationMs: 300, warmupMs: 100, subscribers: 6, sockets: 2, fanoutEvents: 2 });
  for (const side of ['apollo', 'graphql-http', 'plain-http'] as const) {
    const [run] = report.query.runs[side];
    expect({ side, failed: run?.failed }).toEqual({ side, failed: 0 });
    expect(run?.requestsPerSecond).toBeGreaterThan(0);
  }
  for (const side of ['spheregate', 'bare-ws'] as const) {
    const [run] = report.fanout.runs[side];
    expect({ side, missed: run?.missed, deliveries: run?.deliveries }).toEqual({ side, missed: 0, deliveries: 2 * 6 });
    expect(Number.isFinite(run?.p99Ms)).toBe(true);
  }
  expect(Number.isFinite(report.query.ratios['graphql-http'].requestsPerSecond)).toBe(true);
  expect(Number.isFinite(report.query.ratios['plain-http'].requestsPerSecond)).toBe(true);
}, 60_000);

test('the rollout scenario installs the image on every device and delivers it from its floor, none lost', async () => {
  const report = await runRollout({ devices: 3, reps: 1, imageBytes: 16 * 1024, isolate: false });
  for (const side of ['spheregate', 'https-floor'] as const) {
    const [run] = report.runs[side];
    expect({ side, completed: run?.completed, confirmed: run?.confirmed, failed: run?.failed, lost: run?.lost }).toEqual({ side, completed: 3, confirmed: 3, failed: 0, lost: 0 });
    expect(run?.megabytesPerSecond).toBeGreaterThan(0);
    expect(Number.isFinite(run?.serverCpuMsPerDevice)).toBe(true);
  }
  expect(report.runs['https-floor'][0]?.concurrentDownloads).toBe(report.runs.spheregate[0]?.concurrentDownloads);
  expect(Number.isFinite(report.ratios.megabytesPerSecond)).toBe(true);
}, 60_000);

test('the hold scenario keeps every device connected and samples the broker', async () => {
  const report = await runHold({ devices: 3, holdMs: 3000, sampleEveryMs: 1000, keepaliveSeconds: 1, isolate: false });
  expect({ connected: report.connected, failed: report.failedToConnect, dropped: report.dropped }).toEqual({ connected: 3, failed: 0, dropped: 0 });
  expect(report.samples).toHaveLength(4);
  expect(report.samples.every((s) => s.connected === 3 && s.rssBytes > 0 && Number.isFinite(s.lagP99Ms))).toBe(true);
  expect(report.summary.rssEndBytes).toBeGreaterThan(0);
  expect(Number.isFinite(report.summary.lastThirdSlopeMiBPerMinute)).toBe(true);
}, 60_000);
