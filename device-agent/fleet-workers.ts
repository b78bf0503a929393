/**
 * A fleet spread over worker processes, for when one core is not enough for the devices' TLS and crypto: each
 * worker (fleet-worker.ts) runs a slice of the identities as a Fleet, and reports its summary a few times a
 * second; the parent adds them up. Same start/summary/stop as Fleet, so the CLI drives either.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { FleetOptions, FleetSummary } from './fleet.js';

export interface FleetControl {
  start(): Promise<void>;
  summary(): FleetSummary;
  stop(): Promise<void>;
}

/** What the parent sends a worker. Identities cross over IPC (to the worker's own process only). */
export type WorkerCommand = { readonly cmd: 'start'; readonly options: Omit<FleetOptions, 'log'> } | { readonly cmd: 'stop' };
/** What a worker sends back. */
export type WorkerReport = { readonly summary: FleetSummary; readonly final?: boolean };

export function mergeSummaries(total: number, parts: readonly FleetSummary[]): FleetSummary {
  const failing: Record<string, number> = {};
  for (const p of parts) for (const [reason, n] of Object.entries(p.failing)) failing[reason] = (failing[reason] ?? 0) + n;
  const sum = (k: 'started' | 'online' | 'certified' | 'errorEventsSent' | 'updating' | 'installed'): number => parts.reduce((n, p) => n + p[k], 0);
  return {
    total,
    started: sum('started'),
    online: sum('online'),
    certified: sum('certified'),
    errorEventsSent: sum('errorEventsSent'),
    updating: sum('updating'),
    installed: sum('installed'),
    failing,
  };
}

/** Splits the identities into `workers` slices of nearly equal size (none empty). */
export function slices<T>(items: readonly T[], workers: number): T[][] {
  const n = Math.max(1, Math.min(workers, items.length));
  return Array.from({ length: n }, (_, w) => items.filter((_, i) => i % n === w));
}

export class WorkerFleet implements FleetControl {
  private readonly children: ChildProcess[] = [];
  private readonly latest: FleetSummary[] = [];
  private starting: Promise<void> | null = null;

  constructor(
    private readonly options: Omit<FleetOptions, 'log'>,
    private readonly workers: number,
    private readonly workerScript: URL = new URL('./fleet-worker.js', import.meta.url),
  ) {}

  start(): Promise<void> {
    this.starting ??= this.spawn();
    return this.starting;
  }

  summary(): FleetSummary {
    return mergeSummaries(this.options.identities.length, this.latest);
  }

  async stop(): Promise<void> {
    await this.starting?.catch(() => undefined);
    await Promise.all(
      this.children.map(async (child) => {
        if (child.exitCode !== null) return;
        const exited = once(child, 'exit');
        child.send({ cmd: 'stop' } satisfies WorkerCommand);
        await exited;
      }),
    );
  }

  private async spawn(): Promise<void> {
    const parts = slices(this.options.identities, this.workers);
    // Each worker ramps its own slice, so together they keep the fleet's ramp.
    const rampPerSecond = Math.max(1, Math.round((this.options.rampPerSecond ?? 100) / parts.length));
    for (const [w, identities] of parts.entries()) {
      const child = fork(this.workerScript, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      this.children.push(child);
      this.latest[w] = mergeSummaries(identities.length, []);
      child.on('message', (report: WorkerReport) => {
        this.latest[w] = report.summary;
      });
      child.send({ cmd: 'start', options: { ...this.options, identities, rampPerSecond } } satisfies WorkerCommand);
    }
  }
}
