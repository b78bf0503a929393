/** Time as a port, so tests can move it (certificate expiry, nonces, rollouts). */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
