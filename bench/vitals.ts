/**
 * A process's own vital signs for the hold scenario: RSS and heap (no forced collection: a full GC every sample
 * would itself stall the event loop being measured), CPU so far, and the event-loop delay since the previous
 * sample (perf_hooks.monitorEventLoopDelay, 10 ms resolution), which each sample resets.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export interface Vitals {
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** User + system CPU time of the process so far. */
  readonly cpuMs: number;
  /** Event-loop delay since the previous sample (or since monitoring began), ms. */
  readonly lagP50Ms: number;
  readonly lagP99Ms: number;
  readonly lagMaxMs: number;
}

export interface VitalsMonitor {
  sample(): Vitals;
  stop(): void;
}

const NS_PER_MS = 1e6;

/** Starts measuring the event-loop delay now; each sample() reports and resets it. */
export function startVitals(resolutionMs = 10): VitalsMonitor {
  const histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: resolutionMs });
  histogram.enable();
  return {
    sample: () => {
      const cpu = process.cpuUsage();
      const memory = process.memoryUsage();
      // An empty histogram (no tick yet) reports NaN-like extremes: say 0 instead.
      const seen = histogram.count > 0;
      const vitals: Vitals = {
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        cpuMs: (cpu.user + cpu.system) / 1000,
        lagP50Ms: seen ? histogram.percentile(50) / NS_PER_MS : 0,
        lagP99Ms: seen ? histogram.percentile(99) / NS_PER_MS : 0,
        lagMaxMs: seen ? histogram.max / NS_PER_MS : 0,
      };
      histogram.reset();
      return vitals;
    },
    stop: () => histogram.disable(),
  };
}
