/**
 * The staged rollout as a pure state machine: given a deployment's policy and what its devices have reported, it
 * decides the next step. No I/O and no clock of its own, so every transition is unit-tested
 * (rollout.test.ts); deployments.service.ts applies the decisions, once per cluster (a lease).
 *
 * Waves are cumulative targets (a percentage of the group or a count of devices); after the last wave every device
 * is admitted. A wave opens when every device admitted so far has finished (installed, failed or rejected).
 * Thresholds are checked before anything else: at least `minSample` finished devices and a failure share at or
 * above `maxFailurePercent`, or at least `maxCrashReports` unplanned error reports from admitted devices on the new
 * images, halt the rollout with the reason.
 */
export const DEPLOYMENT_STATES = ['ACTIVE', 'HALTED', 'CANCELLED', 'SUPERSEDED'] as const;
export type DeploymentState = (typeof DEPLOYMENT_STATES)[number];

export const DEVICE_UPDATE_STATES = ['PENDING', 'DOWNLOADING', 'INSTALLING', 'INSTALLED', 'FAILED', 'REJECTED'] as const;
export type DeviceUpdateState = (typeof DEVICE_UPDATE_STATES)[number];
export type ImageUpdateState = DeviceUpdateState | 'ALREADY_INSTALLED';

export interface RolloutWave {
  /** Cumulative share of the group's devices, 1..100. */
  readonly percent?: number | null;
  /** Cumulative number of devices. */
  readonly count?: number | null;
}

export interface RolloutPolicy {
  readonly waves: readonly RolloutWave[];
  /** Most devices admitted per minute; null: no limit. */
  readonly maxDevicesPerMinute: number | null;
  /** Finished devices needed before the failure share counts. */
  readonly minSample: number;
  /** Halt when failed + rejected reach this share of the finished devices; null: never. */
  readonly maxFailurePercent: number | null;
  /** Halt when admitted devices send this many crash reports from the new images; null: never. */
  readonly maxCrashReports: number | null;
}

export interface RolloutSnapshot {
  readonly state: DeploymentState;
  readonly wave: number;
  /** Devices in the deployment (the group's). */
  readonly total: number;
  readonly admitted: number;
  /** Admitted devices that are installed, failed or rejected. */
  readonly finished: number;
  /** Admitted devices that failed or rejected. */
  readonly failed: number;
  readonly crashReports: number;
  readonly admittedInLastMinute: number;
  /** Counts when the rollout was last resumed: thresholds judge only what came after (a person chose to go on). */
  readonly baseline?: ThresholdBaseline | null;
}

export interface ThresholdBaseline {
  readonly finished: number;
  readonly failed: number;
  readonly crashReports: number;
}

export type RolloutDecision =
  | { readonly kind: 'admit'; readonly count: number; readonly wave: number }
  | { readonly kind: 'next-wave'; readonly wave: number }
  | { readonly kind: 'halt'; readonly reason: string }
  | { readonly kind: 'wait'; readonly why: 'not-active' | 'wave-in-progress' | 'rate-limit' | 'all-admitted' };

/** How many devices the waves up to and including `wave` admit in total (the last wave is everyone). */
export function waveTarget(policy: RolloutPolicy, wave: number, total: number): number {
  if (wave >= policy.waves.length) return total;
  const w = policy.waves[wave];
  const n = w?.count != null ? w.count : Math.ceil(((w?.percent ?? 100) / 100) * total);
  return Math.min(total, Math.max(0, n));
}

export function decide(policy: RolloutPolicy, s: RolloutSnapshot): RolloutDecision {
  if (s.state !== 'ACTIVE') return { kind: 'wait', why: 'not-active' };
  const crashes = s.crashReports - (s.baseline?.crashReports ?? 0);
  if (policy.maxCrashReports !== null && crashes >= policy.maxCrashReports) {
    return { kind: 'halt', reason: `${crashes} crash reports from the new images (threshold ${policy.maxCrashReports})` };
  }
  const finished = s.finished - (s.baseline?.finished ?? 0);
  const failed = s.failed - (s.baseline?.failed ?? 0);
  if (policy.maxFailurePercent !== null && finished >= Math.max(1, policy.minSample)) {
    const share = (100 * failed) / finished;
    if (share >= policy.maxFailurePercent) {
      return {
        kind: 'halt',
        reason: `${failed} of ${finished} finished devices failed (${share.toFixed(1)} %, threshold ${policy.maxFailurePercent} %)`,
      };
    }
  }
  const target = waveTarget(policy, s.wave, s.total);
  if (s.admitted < target) {
    const room = policy.maxDevicesPerMinute === null ? Number.POSITIVE_INFINITY : policy.maxDevicesPerMinute - s.admittedInLastMinute;
    if (room <= 0) return { kind: 'wait', why: 'rate-limit' };
    return { kind: 'admit', count: Math.min(target - s.admitted, room), wave: s.wave };
  }
  if (s.wave >= policy.waves.length) return { kind: 'wait', why: 'all-admitted' };
  // The wave is admitted: the next opens once all of them have finished.
  if (s.finished < s.admitted) return { kind: 'wait', why: 'wave-in-progress' };
  return { kind: 'next-wave', wave: s.wave + 1 };
}

/** A device's overall state from its images' states. */
export function deviceStateOf(images: readonly ImageUpdateState[]): DeviceUpdateState {
  if (images.length === 0) return 'INSTALLED';
  if (images.includes('REJECTED')) return 'REJECTED';
  if (images.includes('FAILED')) return 'FAILED';
  if (images.every((s) => s === 'INSTALLED' || s === 'ALREADY_INSTALLED')) return 'INSTALLED';
  if (images.includes('INSTALLING')) return 'INSTALLING';
  if (images.includes('DOWNLOADING')) return 'DOWNLOADING';
  return 'PENDING';
}

/** Checks a policy a caller sent; returns the reason it is unusable, or null. */
export function policyProblem(p: RolloutPolicy): string | null {
  if (p.waves.length > 20) return 'waves: at most 20';
  let last = 0;
  for (const [i, w] of p.waves.entries()) {
    const hasPercent = w.percent != null;
    const hasCount = w.count != null;
    if (hasPercent === hasCount) return `waves[${i}]: give percent or count`;
    if (hasPercent && (!Number.isInteger(w.percent) || (w.percent ?? 0) < 1 || (w.percent ?? 0) > 100)) return `waves[${i}].percent: 1..100`;
    if (hasCount && (!Number.isInteger(w.count) || (w.count ?? 0) < 1)) return `waves[${i}].count: at least 1`;
    const cumulative = hasPercent ? (w.percent ?? 0) : (w.count ?? 0);
    if (i > 0 && (p.waves[i - 1]?.percent != null) === hasPercent && cumulative <= last) return `waves[${i}]: waves are cumulative and must grow`;
    last = cumulative;
  }
  if (p.maxDevicesPerMinute !== null && (!Number.isInteger(p.maxDevicesPerMinute) || p.maxDevicesPerMinute < 1)) return 'maxDevicesPerMinute: at least 1';
  if (!Number.isInteger(p.minSample) || p.minSample < 1) return 'minSample: at least 1';
  if (p.maxFailurePercent !== null && (!(p.maxFailurePercent > 0) || p.maxFailurePercent > 100)) return 'maxFailurePercent: more than 0, at most 100';
  if (p.maxCrashReports !== null && (!Number.isInteger(p.maxCrashReports) || p.maxCrashReports < 1)) return 'maxCrashReports: at least 1';
  return null;
}
