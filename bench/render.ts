/**
 * bench/RESULTS.md from the scenario reports: one section per scenario, medians with min–max in brackets and
 * Spheregate's ratio to each baseline, and for the issue's targets a line saying whether each is met. Pure
 * functions of the reports, so RESULTS.md can be rebuilt from bench/results/*.json for scenarios not run again.
 */
import type { AttestationReport } from './attestation.js';
import type { ErrorIngestReport, IngestMeasurement, IngestTarget } from './error-ingest.js';
import type { GraphqlReport, QueryMeasurement } from './graphql.js';
import { LEVEL_TOLERANCE_MIB_PER_MINUTE, type HoldReport } from './hold.js';
import type { RolloutMeasurement, RolloutReport } from './rollout.js';
import type { ReconnectStormReport } from './reconnect-storm.js';
import type { ConnectStormReport } from './run.js';
import type { Spread } from './stats.js';

export type Facts = Readonly<Record<string, string>>;

const fmt = (n: number, digits = 2): string => (Number.isFinite(n) ? n.toFixed(digits) : '—');
const cell = (s: Spread | undefined, digits = 2, scale = 1): string =>
  s ? `${fmt(s.median / scale, digits)} (${fmt(s.min / scale, digits)}–${fmt(s.max / scale, digits)})` : '—';
/** Two decimals; two significant digits below 0.1, where two decimals would print 0.00. */
const ratio = (n: number | undefined): string => {
  const v = n ?? Number.NaN;
  return `${Number.isFinite(v) && v !== 0 && Math.abs(v) < 0.1 ? v.toPrecision(2) : fmt(v)}×`;
};
const met = (ok: boolean): string => (ok ? '**met**' : '**not met**');

export function renderHeader(facts: Facts): string {
  return [
    '# Benchmark results',
    '',
    'Written by `npm run bench` (see bench/README.md). Medians of the repetitions, min–max in brackets; the ratios are',
    "Spheregate's median over the baseline's, measured in the same run.",
    '',
    ...Object.entries(facts).map(([k, v]) => `- ${k}: ${v}`),
    '',
  ].join('\n');
}

/**
 * Said under a section: that its numbers come from an earlier run than the header's, or how busy the machine was
 * when it ended (other processes on the cores skew every figure).
 */
export function renderProvenance(sectionFacts: Facts, headerFacts: Facts): string {
  if (sectionFacts['date'] !== headerFacts['date']) {
    return `_From an earlier run: ${sectionFacts['date'] ?? '?'}, commit ${sectionFacts['commit'] ?? '?'} (bench/results/*.json)._\n\n`;
  }
  const load = sectionFacts['load average after'];
  return load ? `_Load average (1 / 5 / 15 min) when this scenario ended: ${load}._\n\n` : '';
}

export function renderConnectStorm(r: ConnectStormReport, provenance = ''): string {
  const row = (label: string, key: keyof ConnectStormReport['medians']['spheregate'], digits = 2, scale = 1): string =>
    `| ${label} | ${cell(r.medians.spheregate[key], digits, scale)} | ${cell(r.medians['bare-aedes'][key], digits, scale)} | ${cell(r.medians.mosquitto[key], digits, scale)} | ${ratio(r.ratios.vsBareAedes[key])} | ${ratio(r.ratios.vsMosquitto[key])} |`;
  return [
    `## mTLS connect storm: ${r.devices} distinct devices, ${r.reps} repetitions`,
    '',
    provenance + '| Metric | Spheregate | bare Aedes | Mosquitto | vs bare Aedes | vs Mosquitto |',
    '| --- | --- | --- | --- | --- | --- |',
    row('connections/s', 'connectionsPerSecond', 0),
    row('broker CPU ms per connection', 'brokerCpuMsPerConnection'),
    row('time to CONNACK p50 (ms)', 'p50ConnackMs', 0),
    row('time to CONNACK p99 (ms)', 'p99ConnackMs', 0),
    row('RSS per connected idle device (KiB)', 'rssBytesPerDevice', 1, 1024),
    row('failed connections', 'failed', 0),
    '',
  ].join('\n');
}

export function renderReconnectStorm(r: ReconnectStormReport, provenance = ''): string {
  type Metric = keyof ReconnectStormReport['resumedVsCold']['spheregate'];
  const m = r.medians;
  const row = (label: string, key: Metric, digits = 2, scale = 1): string =>
    `| ${label} | ${cell(m.spheregate.cold[key], digits, scale)} | ${cell(m.spheregate.resumed[key], digits, scale)} | ${ratio(r.resumedVsCold.spheregate[key])} | ${cell(m['bare-aedes'].cold[key], digits, scale)} | ${cell(m['bare-aedes'].resumed[key], digits, scale)} | ${ratio(r.resumedVsCold['bare-aedes'][key])} |`;
  const cpu = r.resumedVsCold.spheregate.brokerCpuMsPerConnection;
  const resumed = m.spheregate.resumed.resumedShare.median;
  return [
    `## Reconnect storm: the same ${r.devices} devices cold, then resuming their TLS sessions, ${r.reps} repetitions`,
    '',
    provenance + '| Metric | Spheregate cold | Spheregate resumed | resumed vs cold | bare Aedes cold | bare Aedes resumed | resumed vs cold |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    row('connections/s', 'connectionsPerSecond', 0),
    row('broker CPU ms per connection', 'brokerCpuMsPerConnection'),
    row('time to CONNACK p50 (ms)', 'p50ConnackMs', 0),
    row('time to CONNACK p99 (ms)', 'p99ConnackMs', 0),
    row('handshakes resumed (%, counted by the broker)', 'resumedShare', 0, 0.01),
    row('failed connections', 'failed', 0),
    '',
    `Spheregate vs bare Aedes, broker CPU per connection: cold ${ratio(r.vsBareAedes.cold.brokerCpuMsPerConnection)}, resumed ${ratio(r.vsBareAedes.resumed.brokerCpuMsPerConnection)}; CONNACK p99: cold ${ratio(r.vsBareAedes.cold.p99ConnackMs)}, resumed ${ratio(r.vsBareAedes.resumed.p99ConnackMs)}.`,
    `Target, a reconnect storm costs less than a cold start (Spheregate, broker CPU per connection, ${fmt(resumed * 100, 0)}% resumed): ${ratio(cpu)} of the cold storm's, ${met(cpu < 1 && resumed > 0.5)}.`,
    '',
    'Each broker process (its own, started afresh per repetition) takes both storms: the devices connect cold (50',
    'handshakes in flight), keep each TLS session ticket the broker hands them, disconnect, and once the broker is idle',
    'again connect with those tickets. Every resumed connection is still admitted by Spheregate as on a cold start.',
    '',
  ].join('\n');
}

export function renderAttestation(r: AttestationReport, provenance = ''): string {
  const c = (s: Spread): string => cell(s, 0);
  return [
    `## Attestation and certificate issuance: ${r.devices} connected devices, ${r.reps} repetitions`,
    '',
    provenance + '| Metric | Spheregate (MQTT, end to end) | bare PKI signing (floor) | ratio |',
    '| --- | --- | --- | --- |',
    `| certificates/s | ${c(r.certificatesPerSecond)} | ${c(r.bareSigningPerSecond)} | ${r.ratio.toFixed(2)}× |`,
    '',
    `Failed attestations: ${r.failed}. The devices run in the bench process too (each makes a key and a CSR and`,
    'signs its statement), so this is the rate of the whole exchange on this machine, not the service alone.',
    '',
  ].join('\n');
}

const INGEST_LABELS: Record<IngestTarget, string> = {
  'spheregate-sqlite': 'Spheregate (SQLite)',
  'spheregate-postgresql': 'Spheregate (PostgreSQL)',
  'bare-aedes': 'bare Aedes',
};
const DATABASE_LABELS: Record<IngestTarget, string> = { 'spheregate-sqlite': 'SQLite', 'spheregate-postgresql': 'PostgreSQL', 'bare-aedes': '—' };

export function renderErrorIngest(r: ErrorIngestReport, provenance = ''): string {
  const spheregates = r.targets.filter((t) => t !== 'bare-aedes');
  const row = (label: string, key: keyof IngestMeasurement, digits: number): string =>
    `| ${label} | ${r.targets.map((t) => cell(r.medians[t]?.[key], digits)).join(' | ')} | ${spheregates.map((t) => ratio(r.ratios[t]?.[key])).join(' | ')} |`;
  const verdicts = spheregates.map((t) => {
    const rate = r.ratios[t]?.eventsPerSecond ?? Number.NaN;
    const lost = (r.runs[t] ?? []).reduce((n, m) => n + m.lostEvents + m.unacknowledgedMessages * r.eventsPerMessage, 0);
    return `${INGEST_LABELS[t]} ${ratio(rate)} with ${lost} lost: ${met(rate >= 0.5 && lost === 0)}`;
  });
  return [
    `## Error-report ingest: ${r.devices} devices, messages of ${r.eventsPerMessage} events, ${r.inFlightPerDevice} in flight per device, at least ${r.minSeconds} s per run, ${r.reps} repetitions`,
    '',
    provenance + `| Metric | ${r.targets.map((t) => INGEST_LABELS[t]).join(' | ')} | ${spheregates.map((t) => `${DATABASE_LABELS[t]} vs bare Aedes`).join(' | ')} |`,
    `| --- | ${r.targets.map(() => '---').join(' | ')} | ${spheregates.map(() => '---').join(' | ')} |`,
    row('events/s (QoS 1, until the last PUBACK)', 'eventsPerSecond', 0),
    row('events acknowledged per run', 'eventsAcknowledged', 0),
    row('messages/s', 'messagesPerSecond', 0),
    row('broker CPU ms per event', 'brokerCpuMsPerEvent', 3),
    row('time to PUBACK p50 (ms)', 'p50PubackMs', 1),
    row('time to PUBACK p99 (ms)', 'p99PubackMs', 1),
    row('lost events (acknowledged, not stored)', 'lostEvents', 0),
    row('messages never acknowledged', 'unacknowledgedMessages', 0),
    row('events refused (down/error replies)', 'errorReplies', 0),
    '',
    `Target, ingest ≥ 0.5× bare Aedes QoS 1 throughput with zero loss: ${verdicts.join('; ')}.`,
    '',
    'Spheregate validates each batch against the contract and stores it before its PUBACK (per event: checks,',
    'duplicate check, hourly limit, the row, and its issue counters), batches of all devices that queued while the',
    'previous transaction ran stored together in one (group commit); bare Aedes only acknowledges. Every',
    `broker gets the same kind of payload (OSCrash events, fresh event IDs; each device sends rounds of ${r.messagesPerDevice} messages`,
    "until the run's minimum time has passed); Spheregate's lost events are read back from the tenant's errorSummary,",
    "bare Aedes's from its own count of processed publishes (times the events per message).",
    '',
  ].join('\n');
}

export function renderGraphql(r: GraphqlReport, provenance = ''): string {
  const q = r.query;
  const f = r.fanout;
  // Reports from before graphql-http was a baseline have no such side: its cells read "—".
  const qRow = (label: string, key: keyof QueryMeasurement, digits: number): string =>
    `| ${label} | ${cell(q.medians.apollo[key], digits)} | ${cell(q.medians['graphql-http']?.[key], digits)} | ${cell(q.medians['plain-http'][key], digits)} | ${ratio(q.ratios['graphql-http']?.[key])} | ${ratio(q.ratios['plain-http']?.[key])} |`;
  const fRow = (label: string, key: keyof GraphqlReport['fanout']['ratios'], digits: number): string =>
    `| ${label} | ${cell(f.medians.spheregate[key], digits)} | ${cell(f.medians['bare-ws'][key], digits)} | ${ratio(f.ratios[key])} |`;
  const missed = f.runs.spheregate.reduce((n, m) => n + m.missed, 0);
  const p99 = f.medians.spheregate.p99Ms.median;
  const target = q.ratios['graphql-http']?.requestsPerSecond ?? Number.NaN;
  return [
    `## GraphQL devices query: devices(first: 50) over ${r.devices} claimed devices, ${r.concurrency} closed-loop clients × ${r.durationMs / 1000} s, ${r.reps} repetitions`,
    '',
    provenance + '| Metric | Apollo (Spheregate gateway) | graphql-http, same schema and context | plain node:http handler (floor) | vs graphql-http | vs plain handler |',
    '| --- | --- | --- | --- | --- | --- |',
    qRow('requests/s', 'requestsPerSecond', 0),
    qRow('latency p50 (ms)', 'p50Ms', 1),
    qRow('latency p99 (ms)', 'p99Ms', 1),
    qRow('server CPU ms per request', 'serverCpuMsPerRequest', 3),
    qRow('failed requests', 'failed', 0),
    '',
    `Target, GraphQL ≥ 1.5× graphql-http's requests/s on the same resolver: ${ratio(target)}, ${met(target >= 1.5)}.`,
    'All three are served by the same Spheregate process (same domain services, same database), one after the other.',
    "graphql-http (`createHandler` of graphql-http/lib/use/http, default options) serves the gateway's own executable",
    "schema with the gateway's own context function (the same bearer-key authentication, the same GatewayContext), so",
    'the ratio compares the two GraphQL servers on the same resolvers. The plain handler parses the same body,',
    'authenticates the same key, calls the same `listDevices` and writes the same JSON without GraphQL: the floor of',
    'this resolver, which a GraphQL server cannot beat.',
    '',
    `## Subscription fan-out: deviceStatusChanged to ${r.subscribers} subscriptions (${r.sockets} WebSocket connections × ${r.subscribers / r.sockets}), ${r.fanoutEvents} status events, ${r.reps} repetitions`,
    '',
    '| Metric | Spheregate (graphql-ws) | bare ws broadcast (floor) | ratio |',
    '| --- | --- | --- | --- |',
    fRow('delivery delay p50 (ms)', 'p50Ms', 0),
    fRow('delivery delay p99 (ms)', 'p99Ms', 0),
    fRow('delivery delay max (ms)', 'maxMs', 0),
    fRow('server CPU ms per delivery', 'serverCpuMsPerDelivery', 4),
    fRow('deliveries', 'deliveries', 0),
    fRow('missed deliveries', 'missed', 0),
    '',
    `Target, fan-out p99 < 50 ms at 1,000 subscribers with none missed: p99 ${fmt(p99, 0)} ms, ${missed} missed, ${met(p99 < 50 && missed === 0 && r.subscribers >= 1000)}.`,
    "The delay runs from the event's own time (`at`: stamped by the presence service as it records the device's",
    'connection, so it includes that database write; by the floor server as it broadcasts) to its receipt by the',
    'subscriber in the bench process (millisecond clocks); one MQTT device goes online and offline in turn.',
    '',
  ].join('\n');
}

export function renderRollout(r: RolloutReport, provenance = ''): string {
  const sg = r.medians.spheregate;
  const row = (label: string, key: keyof RolloutMeasurement, digits: number): string =>
    `| ${label} | ${cell(sg[key], digits)} | ${cell(r.medians['https-floor'][key], digits)} | ${ratio(r.ratios[key])} |`;
  const bad = r.runs.spheregate.reduce((n, m) => n + m.failed + m.lost + Math.abs(m.completed - m.confirmed), 0);
  const kib = r.imageBytes / 1024;
  return [
    `## Rollout: one ${kib} KiB image to ${r.devices} connected devices, ${r.reps} repetitions`,
    '',
    provenance + '| Metric | Spheregate (deployment, MQTT + HTTPS downloads) | plain node:https, same mutual TLS (floor) | ratio |',
    '| --- | --- | --- | --- |',
    row('seconds until every device has it', 'seconds', 2),
    row(`MB/s delivered (N × ${kib} KiB / seconds, 10⁶ bytes)`, 'megabytesPerSecond', 1),
    row('server CPU ms per device update', 'serverCpuMsPerDevice', 2),
    row('per device: time to installed / downloaded, p50 (s)', 'p50Seconds', 2),
    row('per device: time to installed / downloaded, p99 (s)', 'p99Seconds', 2),
    row('downloads at once (Spheregate: peak reached; floor: allowed)', 'concurrentDownloads', 0),
    row('devices done (installed / checked)', 'completed', 0),
    row('installed per the deployment progress (GraphQL)', 'confirmed', 0),
    row('failed or rejected', 'failed', 0),
    row('lost (neither, when time ran out)', 'lost', 0),
    '',
    `Target, rollout ≥ 50% of the floor's MB/s with nothing lost: ${ratio(r.ratios.megabytesPerSecond)} with ${bad} failed, lost or unconfirmed, ${met(r.ratios.megabytesPerSecond >= 0.5 && bad === 0)}.`,
    '',
    `Spheregate (its own process, SQLite, \`SPHEREGATE_UPDATE_DELAY_WINDOW=0\`) and the floor (its own process) serve the`,
    `same devices, which are emulated in the bench process (\`EmulatedDevice\`, delay window ${r.delayWindowSeconds} s, trusting the tenant's`,
    `signing key; the fleet came online in ${fmt(r.connectSeconds, 1)} s before the first repetition and stays connected).`,
    'A repetition is a new image (a new version of the same component, fresh random bytes, signed and uploaded) and',
    "`createDeployment` of it to the fleet's group; the clock runs from that call until the last device reports",
    '`installed` (each device: `down/update`, reports `pending` and `downloading`, a mutual-TLS HTTPS download',
    'admitted by the database and checked against its target, SHA-256 and signature checks, `installing`, a fresh',
    '`status`, `installed`; every report stored before its PUBACK). The floor serves the same bytes from memory to a',
    "GET with each device's identity certificate (a fresh connection each, as the devices download; SHA-256 checked),",
    "as many at once as the devices reached at their peak. CPU per device is the server process's CPU time over the run",
    'divided by the devices.',
    '',
  ].join('\n');
}

export function renderHold(r: HoldReport, provenance = ''): string {
  const s = r.summary;
  const mib = (b: number): string => fmt(b / 2 ** 20, 0);
  const minutes = r.holdSeconds / 60;
  const perMinute = r.samples.filter((x, i) => i === 0 || Math.round(x.seconds) % 60 === 0);
  return [
    `## Hold: ${r.connected} connected devices for ${fmt(minutes, 1)} minutes (asked for ${r.devices}), sampled every ${r.sampleEverySeconds} s`,
    '',
    provenance + '| Broker process (Spheregate) | Value |',
    '| --- | --- |',
    `| RSS idle, before any device (MiB) | ${mib(s.rssIdleBytes)} |`,
    `| RSS at start / middle / end of the hold (MiB) | ${mib(s.rssStartBytes)} / ${mib(s.rssMiddleBytes)} / ${mib(s.rssEndBytes)} |`,
    `| RSS per connected device at start (KiB) | ${fmt((s.rssStartBytes - s.rssIdleBytes) / Math.max(1, r.connected) / 1024, 1)} |`,
    `| heap used at start / end (MiB) | ${mib(s.heapStartBytes)} / ${mib(s.heapEndBytes)} |`,
    `| RSS growth, first → middle third / middle → last third (MiB/min, between the thirds' means) | ${fmt(s.earlyGrowthMiBPerMinute)} / ${fmt(s.lateGrowthMiBPerMinute)} |`,
    `| RSS slope within the first third / the last third (MiB/min, least squares) | ${fmt(s.firstThirdSlopeMiBPerMinute)} / ${fmt(s.lastThirdSlopeMiBPerMinute)} |`,
    `| heap slope, first third / last third (MiB/min) | ${fmt(s.heapFirstThirdSlopeMiBPerMinute)} / ${fmt(s.heapLastThirdSlopeMiBPerMinute)} |`,
    `| event-loop delay p99 per sample: max / median (ms) | ${fmt(s.maxLagP99Ms, 1)} / ${fmt(s.medianLagP99Ms, 1)} |`,
    `| event-loop delay max during the hold (ms); samples with a max over 100 ms | ${fmt(s.maxLagMs, 0)}; ${s.samplesOver100Ms} of ${Math.max(0, r.samples.length - 1)} |`,
    `| event-loop delay p99 while the fleet connected (ms) | ${fmt(s.connectLagP99Ms, 1)} |`,
    `| CPU during the hold (mean, % of one core) | ${fmt(s.meanCpuPercent, 1)} |`,
    `| connected in (s) / failed to connect / dropped during the hold | ${fmt(r.connectSeconds, 1)} / ${r.failedToConnect} / ${r.dropped} |`,
    '',
    `RSS growth levels off (from the middle third to the last under a quarter of the growth from the first third to the middle, or under ${LEVEL_TOLERANCE_MIB_PER_MINUTE} MiB/min): ${s.levelsOff ? '**yes**' : '**no**'}.`,
    "(Growth is compared between the thirds' means: RSS read without a forced GC swings by 10–25 MiB between samples,",
    'which makes a slope within a few minutes mostly noise.)',
    `Every ${perMinute.length > 1 ? 'minute' : 'sample'}, RSS (MiB) / event-loop delay p99 (ms): ${perMinute.map((x) => `${fmt(x.seconds / 60, 0)}′ ${mib(x.rssBytes)} / ${fmt(x.lagP99Ms, 1)}`).join(', ')} (the series: bench/results/hold.json).`,
    '',
    `The devices are raw mqtt.js clients in the bench process (identity certificates, 50 connecting at once), each`,
    `subscribed to its \`down/#\` topics and otherwise idle but for a PINGREQ every ${r.keepaliveSeconds} s (its keep-alive).`,
    `Client side at the end: the bench process held ${r.connected} TLS connections in ${mib(r.client.rssBytes)} MiB RSS, using`,
    `${fmt(r.client.cpuPercent, 1)}% of one core during the hold. RSS and heap are read without a forced GC (one every sample`,
    'would stall the event loop being measured); the delay is measured by the broker process itself',
    '(`perf_hooks.monitorEventLoopDelay`, 10 ms resolution) over each sampling interval and read over IPC.',
    '',
  ].join('\n');
}
