/**
 * When a device renews its certificate: at a random point between 60 % and 80 % of its lifetime (about two
 * thirds, as Azure Sphere renews daily certificates), so a fleet whose certificates were issued together never
 * renews in one instant. Without a certificate, or past 80 % of its life, at once.
 */
export const RENEW_FROM = 0.6;
export const RENEW_UNTIL = 0.8;

export interface Validity {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Milliseconds from `now` until the renewal; 0 means now. `random` is uniform in [0, 1). */
export function renewalDelayMs(certificate: Validity | null, now: Date, random: () => number = Math.random): number {
  if (!certificate) return 0;
  const start = certificate.notBefore.getTime();
  const lifetime = certificate.notAfter.getTime() - start;
  if (lifetime <= 0) return 0;
  const at = start + lifetime * (RENEW_FROM + (RENEW_UNTIL - RENEW_FROM) * random());
  return Math.max(0, Math.round(at - now.getTime()));
}

/** True when the certificate is missing or past the latest renewal point (so a reconnecting device renews first). */
export function renewalOverdue(certificate: Validity | null, now: Date): boolean {
  if (!certificate) return true;
  const start = certificate.notBefore.getTime();
  return now.getTime() >= start + (certificate.notAfter.getTime() - start) * RENEW_UNTIL;
}
