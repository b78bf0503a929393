import { backoffCeilingMs, fullJitterBackoff, toBackoffPolicy, type BackoffPolicy } from './backoff.js';

describe('full-jitter exponential backoff', () => {
  it('doubles the ceiling per attempt until the cap', () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((a) => backoffCeilingMs(a, 100, 1_000))).toEqual([100, 200, 400, 800, 1_000, 1_000, 1_000]);
    expect(backoffCeilingMs(5_000, 100, 1_000)).toBe(1_000);
    expect(backoffCeilingMs(-3, 100, 1_000)).toBe(100);
  });

  it('When the random source is at its extremes, then the wait spans 0 up to just under the ceiling', () => {
    const low = fullJitterBackoff({ baseMs: 100, capMs: 1_000, random: () => 0 });
    const high = fullJitterBackoff({ baseMs: 100, capMs: 1_000, random: () => 0.999_999 });
    for (let attempt = 0; attempt < 10; attempt++) {
      expect(low.delayMs(attempt)).toBe(0);
      expect(high.delayMs(attempt)).toBe(backoffCeilingMs(attempt, 100, 1_000) - 1);
    }
  });

  it('keeps every wait within [0, min(cap, base * 2^attempt)) with the real random source', () => {
    const policy = fullJitterBackoff({ baseMs: 50, capMs: 3_000 });
    for (let attempt = 0; attempt < 12; attempt++) {
      for (let i = 0; i < 200; i++) {
        const delay = policy.delayMs(attempt);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThan(backoffCeilingMs(attempt, 50, 3_000));
        expect(Number.isInteger(delay)).toBe(true);
      }
    }
  });

  it('spreads waits instead of synchronising them', () => {
    const policy = fullJitterBackoff({ baseMs: 1_000, capMs: 60_000 });
    const delays = new Set(Array.from({ length: 50 }, () => policy.delayMs(6)));
    expect(delays.size).toBeGreaterThan(40);
  });

  it('When the options make no sense, then it refuses them', () => {
    expect(() => fullJitterBackoff({ baseMs: 0 })).toThrow(RangeError);
    expect(() => fullJitterBackoff({ baseMs: 100, capMs: 50 })).toThrow(RangeError);
    expect(() => fullJitterBackoff({ baseMs: Number.NaN })).toThrow(RangeError);
  });

  it('accepts a replacement policy as is, or options for the default one', () => {
    const constant: BackoffPolicy = { delayMs: () => 7 };
    expect(toBackoffPolicy(constant)).toBe(constant);
    expect(toBackoffPolicy({ baseMs: 10, capMs: 10, random: () => 0.5 }).delayMs(3)).toBe(5);
    expect(toBackoffPolicy(undefined).delayMs(0)).toBeLessThan(1_000);
  });
});
