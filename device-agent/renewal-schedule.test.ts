import { RENEW_FROM, RENEW_UNTIL, renewalDelayMs, renewalOverdue } from './renewal-schedule.js';

const HOUR = 3_600_000;
const issuedAt = new Date('2030-01-01T00:00:00Z');
const day = { notBefore: issuedAt, notAfter: new Date(issuedAt.getTime() + 24 * HOUR) };

describe('when a device renews its certificate', () => {
  test('at once without a certificate, or past 80 % of its life', () => {
    expect(renewalDelayMs(null, issuedAt)).toBe(0);
    expect(renewalOverdue(null, issuedAt)).toBe(true);
    const late = new Date(issuedAt.getTime() + 20 * HOUR);
    expect(renewalOverdue(day, late)).toBe(true);
    expect(renewalOverdue(day, new Date(issuedAt.getTime() + 19 * HOUR))).toBe(false);
  });

  test('between 60 % and 80 % of the lifetime, as the random draw says', () => {
    expect(renewalDelayMs(day, issuedAt, () => 0)).toBe(Math.round(RENEW_FROM * 24 * HOUR));
    expect(renewalDelayMs(day, issuedAt, () => 0.5)).toBe(Math.round(((RENEW_FROM + RENEW_UNTIL) / 2) * 24 * HOUR));
    expect(renewalDelayMs(day, issuedAt, () => 0.999999)).toBeLessThan(RENEW_UNTIL * 24 * HOUR);
    // Counted from notBefore, not from now.
    expect(renewalDelayMs(day, new Date(issuedAt.getTime() + HOUR), () => 0)).toBe(Math.round(RENEW_FROM * 24 * HOUR - HOUR));
  });

  test('a fleet certified in the same instant spreads its renewals over the window', () => {
    const delays = Array.from({ length: 50 }, () => renewalDelayMs(day, issuedAt));
    const spread = Math.max(...delays) - Math.min(...delays);
    // Uniform over a 4.8-hour window: 50 draws span most of it and almost never coincide.
    expect(spread).toBeGreaterThan(0.1 * 24 * HOUR);
    expect(new Set(delays).size).toBeGreaterThanOrEqual(49);
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(RENEW_FROM * 24 * HOUR);
      expect(d).toBeLessThan(RENEW_UNTIL * 24 * HOUR);
    }
  });
});
