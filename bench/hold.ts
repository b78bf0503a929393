/**
 * The hold: N devices connected to Spheregate (its own process when isolated; SQLite) and held there for a long
 * time, sampling the broker process every few seconds: RSS, heap, CPU, and its event-loop delay since the
 * previous sample, measured by the process itself (perf_hooks.monitorEventLoopDelay, bench/vitals.ts) and asked
 * for over IPC. The devices are raw mqtt.js clients (bench/connect-storm.ts: identity certificate, 50 connecting
 * at once) that subscribe to their down topics and then only keep their connection alive (PINGREQ every
 * keep-alive interval), so the bench process stays light. Reports the series and whether RSS growth levels off
 * (LEVEL_TOLERANCE_MIB_PER_MINUTE).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downFilter } from '../contract/mqtt/topics.js';
import { manufacture } from '../device-agent/manufacture.js';
import { startSpheregateChild } from './child-process.js';
import { connectStorm, type StormDevice } from './connect-storm.js';
import { median } from './stats.js';
import { startSpheregateTarget, type RunningSpheregate } from './targets.js';
import type { Vitals } from './vitals.js';

export interface HoldOptions {
  readonly devices: number;
  readonly holdMs: number;
  /** @default 10000 */
  readonly sampleEveryMs?: number;
  /** The keep-alive the devices ask for. @default 60 (the contract's DEFAULT_KEEPALIVE_SECONDS) */
  readonly keepaliveSeconds?: number;
  /** Connections in progress at once while the fleet connects. @default 50 */
  readonly concurrency?: number;
  /** Spheregate in its own process. Off: in this process (the smoke test). */
  readonly isolate: boolean;
  readonly onProgress?: (line: string) => void;
}

export interface HoldSample {
  /** Since the hold began (all devices connected). */
  readonly seconds: number;
  /** Devices whose connection is still open, as the clients see it. */
  readonly connected: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** The broker process's CPU use since the previous sample, % of one core. */
  readonly cpuPercent: number;
  /** Event-loop delay since the previous sample. */
  readonly lagP50Ms: number;
  readonly lagP99Ms: number;
  readonly lagMaxMs: number;
}

export interface HoldSummary {
  /** The broker before any device connected. */
  readonly rssIdleBytes: number;
  readonly rssStartBytes: number;
  readonly rssMiddleBytes: number;
  readonly rssEndBytes: number;
  readonly heapStartBytes: number;
  readonly heapEndBytes: number;
  /** Least-squares RSS slope over the first and the last third of the hold, MiB per minute. */
  readonly firstThirdSlopeMiBPerMinute: number;
  readonly lastThirdSlopeMiBPerMinute: number;
  readonly heapFirstThirdSlopeMiBPerMinute: number;
  readonly heapLastThirdSlopeMiBPerMinute: number;
  /** RSS growth from the first third's mean to the middle third's, and from the middle to the last, MiB per minute. */
  readonly earlyGrowthMiBPerMinute: number;
  readonly lateGrowthMiBPerMinute: number;
  /** See LEVEL_TOLERANCE_MIB_PER_MINUTE. */
  readonly levelsOff: boolean;
  /** The highest and the median of the samples' event-loop delay p99 during the hold. */
  readonly maxLagP99Ms: number;
  readonly medianLagP99Ms: number;
  readonly maxLagMs: number;
  /** Samples (after the first) whose event-loop delay max exceeded 100 ms. */
  readonly samplesOver100Ms: number;
  /** Event-loop delay p99 while the fleet connected. */
  readonly connectLagP99Ms: number;
  readonly meanCpuPercent: number;
}

export interface HoldReport {
  readonly scenario: 'hold';
  readonly devices: number;
  readonly connected: number;
  readonly failedToConnect: number;
  /** Connections that closed during the hold. */
  readonly dropped: number;
  readonly connectSeconds: number;
  readonly holdSeconds: number;
  readonly sampleEverySeconds: number;
  readonly keepaliveSeconds: number;
  readonly isolated: boolean;
  readonly samples: readonly HoldSample[];
  readonly summary: HoldSummary;
  /** The bench process holding the clients, at the end of the hold. */
  readonly client: { readonly rssBytes: number; readonly cpuPercent: number };
}

/**
 * Growth levels off when RSS grows from the middle third of the samples to the last (the rate between their means)
 * at under a quarter of the rate from the first third to the middle one, or under this many MiB per minute (flat
 * from the start: 1 MiB/min is about 2 KiB per device over 10 minutes at 5,000 devices). Means of thirds, not the
 * slopes within them: RSS read without a forced GC swings by 10–25 MiB between samples, which makes a slope over a
 * few minutes mostly noise (the slopes are reported too).
 */
export const LEVEL_TOLERANCE_MIB_PER_MINUTE = 1;
const MIB = 2 ** 20;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

export async function runHold(opts: HoldOptions): Promise<HoldReport> {
  const say = opts.onProgress ?? (() => undefined);
  const sampleEveryMs = opts.sampleEveryMs ?? 10_000;
  const keepaliveSeconds = opts.keepaliveSeconds ?? 60;
  const workDir = await mkdtemp(join(tmpdir(), 'sg-bench-hold-'));
  try {
    const dataDir = join(workDir, 'spheregate');
    await mkdir(dataDir, { recursive: true });
    // Register the devices with a Spheregate of its own, then hold them on a fresh one: its memory is the hold's.
    const setup = await startSpheregateTarget(dataDir);
    say(`hold: manufacturing ${opts.devices} devices`);
    const identities = await manufacture({ serviceUrl: setup.graphqlUrl, adminKey: setup.adminKey, count: opts.devices, trustAnchorsPem: setup.rootCaPem });
    const rootCaPem = setup.rootCaPem;
    await setup.close();
    const devices: StormDevice[] = identities.map((i) => ({ deviceId: i.deviceId, keyPem: i.privateKeyPem, certificatePem: i.certificatePem }));

    const target: RunningSpheregate = opts.isolate ? await startSpheregateChild(dataDir) : await startSpheregateTarget(dataDir);
    try {
      await sleep(1000);
      const idle = await target.vitals();
      say(`hold: connecting ${devices.length} devices (keep-alive ${keepaliveSeconds} s)`);
      const storm = await connectStorm({ port: target.mqttPort, rootCaPem, devices, concurrency: opts.concurrency ?? 50, keepaliveSeconds });
      try {
        const connected = storm.clients.length;
        let dropped = 0;
        for (const { client } of storm.clients) client.once('close', () => dropped++);
        // As a device does: subscribe to its own down topics (the service then holds a subscription per device).
        await Promise.all(storm.clients.map(({ deviceId, client }) => client.subscribeAsync(downFilter(deviceId), { qos: 1 })));
        const connectSeconds = storm.result.durationMs / 1000;
        say(`hold: ${connected} connected in ${connectSeconds.toFixed(1)} s, ${storm.result.failed} failed${storm.result.errors.length ? ` (${storm.result.errors.join('; ')})` : ''}`);

        const clientCpuBefore = process.cpuUsage();
        const begin = performance.now();
        const first = await target.vitals();
        const samples: HoldSample[] = [toSample(first, idle, 0, 0, connected)];
        let previous = first;
        let previousAt = begin;
        for (let k = 1; k * sampleEveryMs <= opts.holdMs; k++) {
          await sleep(begin + k * sampleEveryMs - performance.now());
          const now = performance.now();
          const v = await target.vitals();
          samples.push(toSample(v, previous, (now - begin) / 1000, now - previousAt, connected - dropped));
          previous = v;
          previousAt = now;
          if (k % Math.max(1, Math.round(60_000 / sampleEveryMs)) === 0) {
            say(`hold: ${((now - begin) / 60_000).toFixed(1)} min, RSS ${(v.rssBytes / MIB).toFixed(0)} MiB, lag p99 ${v.lagP99Ms.toFixed(1)} ms, ${connected - dropped} connected`);
          }
        }
        const holdSeconds = (performance.now() - begin) / 1000;
        const clientCpu = process.cpuUsage(clientCpuBefore);
        return {
          scenario: 'hold',
          devices: devices.length,
          connected,
          failedToConnect: storm.result.failed,
          dropped,
          connectSeconds,
          holdSeconds,
          sampleEverySeconds: sampleEveryMs / 1000,
          keepaliveSeconds,
          isolated: opts.isolate,
          samples,
          summary: summarise(samples, idle, first),
          client: { rssBytes: process.memoryUsage().rss, cpuPercent: ((clientCpu.user + clientCpu.system) / 1000 / (holdSeconds * 1000)) * 100 },
        };
      } finally {
        await storm.release();
      }
    } finally {
      await target.close();
    }
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

function toSample(v: Vitals, previous: Vitals, seconds: number, elapsedMs: number, connected: number): HoldSample {
  return {
    seconds,
    connected,
    rssBytes: v.rssBytes,
    heapUsedBytes: v.heapUsedBytes,
    cpuPercent: elapsedMs > 0 ? ((v.cpuMs - previous.cpuMs) / elapsedMs) * 100 : Number.NaN,
    lagP50Ms: v.lagP50Ms,
    lagP99Ms: v.lagP99Ms,
    lagMaxMs: v.lagMaxMs,
  };
}

/** Least-squares slope of y over x (per second), NaN for fewer than two points. */
function slope(points: ReadonlyArray<readonly [number, number]>): number {
  if (points.length < 2) return Number.NaN;
  const mx = points.reduce((s, [x]) => s + x, 0) / points.length;
  const my = points.reduce((s, [, y]) => s + y, 0) / points.length;
  const num = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return den === 0 ? Number.NaN : num / den;
}

export function summarise(samples: readonly HoldSample[], idle: Vitals, first: Vitals): HoldSummary {
  const end = samples.at(-1)?.seconds ?? 0;
  // The first and the last third of the samples (at least two each), which are evenly spaced in time.
  const third = Math.max(2, Math.ceil(samples.length / 3));
  const early = samples.slice(0, third);
  const late = samples.slice(-third);
  const perMinute = (key: 'rssBytes' | 'heapUsedBytes', part: readonly HoldSample[]): number => (slope(part.map((s) => [s.seconds, s[key]] as const)) * 60) / MIB;
  const firstSlope = perMinute('rssBytes', early);
  const lastSlope = perMinute('rssBytes', late);
  const middleThird = samples.slice(third, Math.max(third, samples.length - third));
  const mean = (part: readonly HoldSample[], key: 'seconds' | 'rssBytes'): number => part.reduce((sum, x) => sum + x[key], 0) / part.length;
  const growth = (a: readonly HoldSample[], b: readonly HoldSample[]): number =>
    a.length && b.length ? ((mean(b, 'rssBytes') - mean(a, 'rssBytes')) / MIB / ((mean(b, 'seconds') - mean(a, 'seconds')) / 60)) : Number.NaN;
  const earlyGrowth = growth(early, middleThird);
  const lateGrowth = growth(middleThird, late);
  const middle = samples.reduce((best, s) => (Math.abs(s.seconds - end / 2) < Math.abs(best.seconds - end / 2) ? s : best), samples[0] ?? toSample(first, first, 0, 0, 0));
  // The first sample's delay covers the connect storm, not the hold.
  const held = samples.slice(1);
  const lagP99 = held.map((s) => s.lagP99Ms);
  return {
    rssIdleBytes: idle.rssBytes,
    rssStartBytes: first.rssBytes,
    rssMiddleBytes: middle.rssBytes,
    rssEndBytes: samples.at(-1)?.rssBytes ?? first.rssBytes,
    heapStartBytes: first.heapUsedBytes,
    heapEndBytes: samples.at(-1)?.heapUsedBytes ?? first.heapUsedBytes,
    firstThirdSlopeMiBPerMinute: firstSlope,
    lastThirdSlopeMiBPerMinute: lastSlope,
    heapFirstThirdSlopeMiBPerMinute: perMinute('heapUsedBytes', early),
    heapLastThirdSlopeMiBPerMinute: perMinute('heapUsedBytes', late),
    earlyGrowthMiBPerMinute: earlyGrowth,
    lateGrowthMiBPerMinute: lateGrowth,
    levelsOff: Number.isFinite(lateGrowth) && (lateGrowth <= LEVEL_TOLERANCE_MIB_PER_MINUTE || (Number.isFinite(earlyGrowth) && lateGrowth <= earlyGrowth / 4)),
    maxLagP99Ms: lagP99.length ? Math.max(...lagP99) : Number.NaN,
    medianLagP99Ms: median(lagP99),
    maxLagMs: held.length ? Math.max(...held.map((s) => s.lagMaxMs)) : Number.NaN,
    samplesOver100Ms: held.filter((s) => s.lagMaxMs > 100).length,
    connectLagP99Ms: first.lagP99Ms,
    meanCpuPercent: held.length ? held.reduce((s, x) => s + x.cpuPercent, 0) / held.length : Number.NaN,
  };
}
