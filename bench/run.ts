/**
 * The mTLS connect-storm scenario (issue 6, a and b): N distinct devices connect to each broker in turn —
 * Spheregate, bare Aedes, Mosquitto — alternating the order over the repetitions, in the same run. Reports
 * connections/s, the broker's own CPU per connection, p50/p99 time to CONNACK and RSS per connected idle device,
 * as medians with min–max, and Spheregate's ratios to each baseline.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manufacture } from '../device-agent/manufacture.js';
import { startBareAedesChild, startSpheregateChild } from './child-process.js';
import { connectStorm, type StormDevice, type StormOptions } from './connect-storm.js';
import { median, percentile, type Spread, spread } from './stats.js';
import {
  pkiFilesOf,
  startBareAedesTarget,
  startMosquittoTarget,
  startSpheregateTarget,
  TARGETS,
  type BrokerTarget,
  type TargetName,
} from './targets.js';

export interface ConnectStormOptions {
  readonly devices: number;
  readonly reps: number;
  /**
   * Run each node broker in its own process (bench/child-process.ts), as Mosquitto runs in its own, so CPU
   * and RSS are the broker's alone. Off (smoke test under Jest, which cannot fork TypeScript): all in-process.
   */
  readonly isolate: boolean;
  readonly concurrency?: number;
  readonly onProgress?: (line: string) => void;
}

export interface TargetMeasurement {
  readonly connectionsPerSecond: number;
  readonly brokerCpuMsPerConnection: number;
  readonly p50ConnackMs: number;
  readonly p99ConnackMs: number;
  readonly rssBytesPerDevice: number;
  readonly failed: number;
}

export interface ConnectStormReport {
  readonly scenario: 'mtls-connect-storm';
  readonly devices: number;
  readonly reps: number;
  readonly runs: Readonly<Record<TargetName, readonly TargetMeasurement[]>>;
  readonly medians: Readonly<Record<TargetName, Readonly<Record<keyof TargetMeasurement, Spread>>>>;
  /** Spheregate's median divided by the baseline's, per metric. */
  readonly ratios: Readonly<Record<'vsBareAedes' | 'vsMosquitto', Readonly<Record<keyof TargetMeasurement, number>>>>;
}

const METRICS: ReadonlyArray<keyof TargetMeasurement> = [
  'connectionsPerSecond',
  'brokerCpuMsPerConnection',
  'p50ConnackMs',
  'p99ConnackMs',
  'rssBytesPerDevice',
  'failed',
];

/**
 * Registers the storm's devices once, with a Spheregate on `dataDir` started for that alone; every broker then
 * sees the same certificates (and Spheregate the same database).
 */
export async function registerStormDevices(dataDir: string, count: number, say: (line: string) => void): Promise<{ devices: StormDevice[]; rootCaPem: string }> {
  const setup = await startSpheregateTarget(dataDir);
  try {
    say(`manufacturing ${count} devices`);
    const identities = await manufacture({ serviceUrl: setup.graphqlUrl, adminKey: setup.adminKey, count, trustAnchorsPem: setup.rootCaPem });
    const devices = identities.map((i) => ({ deviceId: i.deviceId, keyPem: i.privateKeyPem, certificatePem: i.certificatePem }));
    return { devices, rootCaPem: setup.rootCaPem };
  } finally {
    await setup.close();
  }
}

export async function runConnectStorm(opts: ConnectStormOptions): Promise<ConnectStormReport> {
  const say = opts.onProgress ?? (() => undefined);
  const workDir = await mkdtemp(join(tmpdir(), 'sg-bench-'));
  try {
    const dataDir = join(workDir, 'spheregate');
    await mkdir(dataDir, { recursive: true });
    const { devices, rootCaPem } = await registerStormDevices(dataDir, opts.devices, say);
    const pki = pkiFilesOf(dataDir);
    const start = (name: TargetName): Promise<BrokerTarget> =>
      name === 'mosquitto'
        ? startMosquittoTarget(pki, workDir)
        : opts.isolate
          ? name === 'spheregate'
            ? startSpheregateChild(dataDir)
            : startBareAedesChild(dataDir)
          : name === 'spheregate'
            ? startSpheregateTarget(dataDir)
            : startBareAedesTarget(pki);

    const runs: Record<TargetName, TargetMeasurement[]> = { spheregate: [], 'bare-aedes': [], mosquitto: [] };
    for (let rep = 0; rep < opts.reps; rep++) {
      // Alternate the order, so no broker always runs on a warmer (or more tired) machine.
      const order = TARGETS.map((_, i) => TARGETS[(i + rep) % TARGETS.length] as TargetName);
      for (const name of order) {
        const target = await start(name);
        try {
          const measurement = await measure(target, { port: target.mqttPort, rootCaPem, devices, concurrency: opts.concurrency ?? 50 });
          runs[name].push(measurement);
          say(`rep ${rep + 1}/${opts.reps} ${name}: ${measurement.connectionsPerSecond.toFixed(0)} conn/s, ${measurement.brokerCpuMsPerConnection.toFixed(2)} CPU ms/conn, p99 ${measurement.p99ConnackMs.toFixed(0)} ms, ${(measurement.rssBytesPerDevice / 1024).toFixed(1)} KiB/device, ${measurement.failed} failed`);
        } finally {
          await target.close();
        }
      }
    }

    const medians = Object.fromEntries(
      TARGETS.map((name) => [name, Object.fromEntries(METRICS.map((m) => [m, spread(runs[name].map((r) => r[m]))]))]),
    ) as ConnectStormReport['medians'];
    const ratio = (baseline: TargetName) =>
      Object.fromEntries(METRICS.map((m) => [m, medians.spheregate[m].median / (medians[baseline][m].median || Number.NaN)])) as Record<keyof TargetMeasurement, number>;
    return { scenario: 'mtls-connect-storm', devices: opts.devices, reps: opts.reps, runs, medians, ratios: { vsBareAedes: ratio('bare-aedes'), vsMosquitto: ratio('mosquitto') } };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

async function measure(target: BrokerTarget, storm: StormOptions): Promise<TargetMeasurement> {
  await new Promise((resolve) => setTimeout(resolve, 200));
  const before = await target.usage();
  const { result, release } = await connectStorm(storm);
  // Connected and idle: let the broker settle its bookkeeping (presence writes) before reading its usage.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const after = await target.usage();
  await release();
  const connected = Math.max(1, result.connected);
  return {
    connectionsPerSecond: result.connected / (result.durationMs / 1000),
    brokerCpuMsPerConnection: (after.cpuMs - before.cpuMs) / connected,
    p50ConnackMs: median(result.latenciesMs),
    p99ConnackMs: percentile(result.latenciesMs, 0.99),
    rssBytesPerDevice: (after.rssBytes - before.rssBytes) / connected,
    failed: result.failed,
  };
}
