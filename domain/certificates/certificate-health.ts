/**
 * A device's certificate health, computed from the denormalised Device columns so that the same rule serves a
 * single device (healthOf) and a listing filter in SQL (healthFilter). First match wins; see CERTIFICATE_HEALTH.
 */
import type { FilterQuery } from '@mikro-orm/core';
import type { DeviceEntity } from '../devices/device.entity.js';
import type { CertificateHealth } from '../views.js';

type HealthColumns = Pick<
  DeviceEntity,
  'revokedAt' | 'lastAttestationResult' | 'tenantCertificateNotAfter' | 'tenantCertificateRenewAfter'
>;

export function healthOf(d: HealthColumns, now: Date): CertificateHealth {
  if (d.revokedAt) return 'REVOKED';
  if (d.lastAttestationResult === 'FAILED') return 'ATTESTATION_FAILED';
  if (!d.tenantCertificateNotAfter) return 'NEVER_ISSUED';
  if (d.tenantCertificateNotAfter.getTime() <= now.getTime()) return 'EXPIRED';
  if (d.tenantCertificateRenewAfter && d.tenantCertificateRenewAfter.getTime() <= now.getTime()) return 'EXPIRING';
  return 'OK';
}

/** The rows healthOf would map to `health` at `now`. */
export function healthFilter(health: CertificateHealth, now: Date): FilterQuery<DeviceEntity> {
  // `$ne` does not match NULL in SQL, so "not failed" spells out both cases.
  const notFailed = { $or: [{ lastAttestationResult: null }, { lastAttestationResult: { $ne: 'FAILED' as const } }] };
  switch (health) {
    case 'REVOKED':
      return { revokedAt: { $ne: null } };
    case 'ATTESTATION_FAILED':
      return { revokedAt: null, lastAttestationResult: 'FAILED' };
    case 'NEVER_ISSUED':
      return { revokedAt: null, ...notFailed, tenantCertificateNotAfter: null };
    case 'EXPIRED':
      return { revokedAt: null, ...notFailed, tenantCertificateNotAfter: { $lte: now } };
    case 'EXPIRING':
      return { revokedAt: null, ...notFailed, tenantCertificateNotAfter: { $gt: now }, tenantCertificateRenewAfter: { $lte: now } };
    case 'OK':
      return { revokedAt: null, ...notFailed, tenantCertificateNotAfter: { $gt: now }, tenantCertificateRenewAfter: { $gt: now } };
    default: {
      const unreachable: never = health;
      return unreachable;
    }
  }
}
