/**
 * How long a device waits before reconnecting: a named, replaceable policy (graphql-ws's
 * `randomisedExponentialBackoff` does the same). The default is exponential backoff with "full jitter"
 * (AWS Architecture Blog, "Exponential Backoff And Jitter"): the wait is uniformly random in
 * [0, min(cap, base * 2^attempt)). After a broker restart a whole fleet loses its connections at once; full jitter
 * spreads the reconnects instead of sending them back in synchronised waves.
 */
export interface BackoffPolicy {
  /** Milliseconds to wait before retry number `attempt` (0 = the first retry after a success). */
  delayMs(attempt: number): number;
}

export interface FullJitterOptions {
  /** Ceiling of the first wait. @default 1000 */
  readonly baseMs?: number;
  /** No wait exceeds this. @default 60000 */
  readonly capMs?: number;
  /** Uniform in [0, 1). Injectable so tests can pin the jitter. @default Math.random */
  readonly random?: () => number;
}

export const DEFAULT_BACKOFF_BASE_MS = 1_000;
export const DEFAULT_BACKOFF_CAP_MS = 60_000;

export function fullJitterBackoff(options: FullJitterOptions = {}): BackoffPolicy {
  const baseMs = options.baseMs ?? DEFAULT_BACKOFF_BASE_MS;
  const capMs = options.capMs ?? DEFAULT_BACKOFF_CAP_MS;
  const random = options.random ?? Math.random;
  if (!Number.isFinite(baseMs) || baseMs <= 0) throw new RangeError(`backoff baseMs must be a positive number, got ${baseMs}`);
  if (!Number.isFinite(capMs) || capMs < baseMs) throw new RangeError(`backoff capMs must be at least baseMs (${baseMs}), got ${capMs}`);
  return {
    delayMs(attempt: number): number {
      return Math.floor(random() * backoffCeilingMs(attempt, baseMs, capMs));
    },
  };
}

/** min(cap, base * 2^attempt); attempts past 2^1023 would overflow to Infinity, which the cap absorbs anyway. */
export function backoffCeilingMs(attempt: number, baseMs: number, capMs: number): number {
  const exponent = Math.max(0, Math.floor(attempt));
  return Math.min(capMs, baseMs * 2 ** Math.min(exponent, 1023));
}

/** Accepts a ready policy or the options for the default one (what most callers want to tune). */
export function toBackoffPolicy(backoff: BackoffPolicy | FullJitterOptions | undefined): BackoffPolicy {
  if (backoff === undefined) return fullJitterBackoff();
  return isBackoffPolicy(backoff) ? backoff : fullJitterBackoff(backoff);
}

const isBackoffPolicy = (value: BackoffPolicy | FullJitterOptions): value is BackoffPolicy =>
  'delayMs' in value && typeof value.delayMs === 'function';
