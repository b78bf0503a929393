/**
 * The reconnect storm (issue 6, a: "TLS session resumption on, so a reconnect storm costs less than a cold
 * start"): the same N devices connect cold (full mutual-TLS handshake), disconnect, and connect again offering
 * the TLS session each got the first time, to the same broker process. Per storm: the broker's own CPU per
 * connection, p50/p99 time to CONNACK, and the share of handshakes the broker itself saw resumed
 * (socket.isSessionReused(), counted in its process). Spheregate and bare Aedes (node TLS, same PKI) take turns,
 * alternating the order over the repetitions; Mosquitto is left out (nothing of ours counts its resumptions).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBareAedesChild, startSpheregateChild } from './child-process.js';
import { connectStorm, type StormDevice } from './connect-storm.js';
import { registerStormDevices } from './run.js';
import { median, percentile, spread, type Spread } from './stats.js';
import { pkiFilesOf, startBareAedesTarget, startSpheregateTarget, type HandshakeCountingTarget } from './targets.js';

export type ReconnectTarget = 'spheregate' | 'bare-aedes';
export const RECONNECT_TARGETS: readonly ReconnectTarget[] = ['spheregate', 'bare-aedes'];
export type StormPhase = 'cold' | 'resumed';

export interface ReconnectStormOptions {
  readonly devices: number;
  readonly reps: number;
  /** Each broker in its own process (see run.ts); off in the smoke test. */
  readonly isolate: boolean;
  /** Connections in progress at once. @default 50 */
  readonly concurrency?: number;
  readonly onProgress?: (line: string) => void;
}

export interface PhaseMeasurement {
  readonly connectionsPerSecond: number;
  readonly brokerCpuMsPerConnection: number;
  readonly p50ConnackMs: number;
  readonly p99ConnackMs: number;
  /** Handshakes the broker saw resumed, over the handshakes it finished during the storm (0..1). */
  readonly resumedShare: number;
  readonly failed: number;
}

export type ReconnectMeasurement = Readonly<Record<StormPhase, PhaseMeasurement>>;

export interface ReconnectStormReport {
  readonly scenario: 'reconnect-storm';
  readonly devices: number;
  readonly reps: number;
  readonly runs: Readonly<Record<ReconnectTarget, readonly ReconnectMeasurement[]>>;
  readonly medians: Readonly<Record<ReconnectTarget, Readonly<Record<StormPhase, Readonly<Record<keyof PhaseMeasurement, Spread>>>>>>;
  /** Per broker: the resumed storm's median over the cold storm's, per metric. */
  readonly resumedVsCold: Readonly<Record<ReconnectTarget, Readonly<Record<keyof PhaseMeasurement, number>>>>;
  /** Spheregate's median over bare Aedes's, per storm and metric. */
  readonly vsBareAedes: Readonly<Record<StormPhase, Readonly<Record<keyof PhaseMeasurement, number>>>>;
}

export const PHASE_METRICS: ReadonlyArray<keyof PhaseMeasurement> = [
  'connectionsPerSecond',
  'brokerCpuMsPerConnection',
  'p50ConnackMs',
  'p99ConnackMs',
  'resumedShare',
  'failed',
];

export async function runReconnectStorm(opts: ReconnectStormOptions): Promise<ReconnectStormReport> {
  const say = opts.onProgress ?? (() => undefined);
  const workDir = await mkdtemp(join(tmpdir(), 'sg-bench-'));
  try {
    const dataDir = join(workDir, 'spheregate');
    await mkdir(dataDir, { recursive: true });
    const { devices, rootCaPem } = await registerStormDevices(dataDir, opts.devices, say);
    const start = (name: ReconnectTarget): Promise<HandshakeCountingTarget> =>
      opts.isolate
        ? name === 'spheregate'
          ? startSpheregateChild(dataDir)
          : startBareAedesChild(dataDir)
        : name === 'spheregate'
          ? startSpheregateTarget(dataDir)
          : startBareAedesTarget(pkiFilesOf(dataDir));

    const runs: Record<ReconnectTarget, ReconnectMeasurement[]> = { spheregate: [], 'bare-aedes': [] };
    for (let rep = 0; rep < opts.reps; rep++) {
      const order = RECONNECT_TARGETS.map((_, i) => RECONNECT_TARGETS[(i + rep) % RECONNECT_TARGETS.length] as ReconnectTarget);
      for (const name of order) {
        const target = await start(name);
        try {
          const measurement = await measureBothStorms(target, { rootCaPem, devices, concurrency: opts.concurrency ?? 50 });
          runs[name].push(measurement);
          for (const phase of ['cold', 'resumed'] as const) {
            const m = measurement[phase];
            say(
              `rep ${rep + 1}/${opts.reps} ${name} ${phase}: ${m.connectionsPerSecond.toFixed(0)} conn/s, ${m.brokerCpuMsPerConnection.toFixed(2)} CPU ms/conn, p50 ${m.p50ConnackMs.toFixed(0)} ms, p99 ${m.p99ConnackMs.toFixed(0)} ms, ${(m.resumedShare * 100).toFixed(0)}% resumed, ${m.failed} failed`,
            );
          }
        } finally {
          await target.close();
        }
      }
    }

    const medians = Object.fromEntries(
      RECONNECT_TARGETS.map((name) => [
        name,
        Object.fromEntries((['cold', 'resumed'] as const).map((phase) => [phase, Object.fromEntries(PHASE_METRICS.map((m) => [m, spread(runs[name].map((r) => r[phase][m]))]))])),
      ]),
    ) as ReconnectStormReport['medians'];
    const over = (a: Readonly<Record<keyof PhaseMeasurement, Spread>>, b: Readonly<Record<keyof PhaseMeasurement, Spread>>) =>
      Object.fromEntries(PHASE_METRICS.map((m) => [m, a[m].median / (b[m].median || Number.NaN)])) as Record<keyof PhaseMeasurement, number>;
    return {
      scenario: 'reconnect-storm',
      devices: opts.devices,
      reps: opts.reps,
      runs,
      medians,
      resumedVsCold: {
        spheregate: over(medians.spheregate.resumed, medians.spheregate.cold),
        'bare-aedes': over(medians['bare-aedes'].resumed, medians['bare-aedes'].cold),
      },
      vsBareAedes: { cold: over(medians.spheregate.cold, medians['bare-aedes'].cold), resumed: over(medians.spheregate.resumed, medians['bare-aedes'].resumed) },
    };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

interface StormSetup {
  readonly rootCaPem: string;
  readonly devices: readonly StormDevice[];
  readonly concurrency: number;
}

/** The cold storm (collecting each device's TLS session), a quiet pause, then the storm that resumes them. */
async function measureBothStorms(target: HandshakeCountingTarget, setup: StormSetup): Promise<ReconnectMeasurement> {
  await new Promise((resolve) => setTimeout(resolve, 200));
  const sessions = new Map<string, Buffer>();
  const cold = await measureStorm(target, setup.devices, setup, (deviceId, session) => sessions.set(deviceId, session));
  // The disconnections (and Spheregate's offline records) are not part of either storm.
  await quiet(target);
  const resuming = setup.devices.map((d) => {
    const tlsSession = sessions.get(d.deviceId);
    return tlsSession ? { ...d, tlsSession } : d;
  });
  const resumed = await measureStorm(target, resuming, setup);
  return { cold, resumed };
}

async function measureStorm(
  target: HandshakeCountingTarget,
  devices: readonly StormDevice[],
  setup: StormSetup,
  onTlsSession?: (deviceId: string, session: Buffer) => void,
): Promise<PhaseMeasurement> {
  const before = await target.usage();
  const handshakesBefore = await target.tlsHandshakes();
  const { result, release } = await connectStorm({ port: target.mqttPort, rootCaPem: setup.rootCaPem, devices, concurrency: setup.concurrency, ...(onTlsSession ? { onTlsSession } : {}) });
  // As the connect storm: let the broker finish its bookkeeping (presence writes) before reading its usage.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const after = await target.usage();
  const handshakesAfter = await target.tlsHandshakes();
  await release();
  const handshakes = handshakesAfter.handshakes - handshakesBefore.handshakes;
  return {
    connectionsPerSecond: result.connected / (result.durationMs / 1000),
    brokerCpuMsPerConnection: (after.cpuMs - before.cpuMs) / Math.max(1, result.connected),
    p50ConnackMs: median(result.latenciesMs),
    p99ConnackMs: percentile(result.latenciesMs, 0.99),
    resumedShare: handshakes > 0 ? (handshakesAfter.resumed - handshakesBefore.resumed) / handshakes : 0,
    failed: result.failed,
  };
}

/** Waits (at most 30 s) until the broker's CPU use over half a second is small: its disconnection work is done. */
async function quiet(target: HandshakeCountingTarget): Promise<void> {
  const cpu = async (): Promise<number> => (await target.usage()).cpuMs;
  // A reading runs a full GC in the broker, which the next reading counts: two back to back price one reading.
  const first = await cpu();
  let last = await cpu();
  const readingCost = last - first;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const now = await cpu();
    if (now - last - readingCost < 20) return;
    last = now;
  }
}
