/**
 * Each tenant CA keeps a CRL of the certificates it issued that are revoked and not yet expired. It is re-signed
 * on every revocation and whenever it is asked for within a day of its nextUpdate, so relying parties that
 * refresh it never hold a stale one.
 */
import type { EntityManager } from '@mikro-orm/core';
import type { Pki } from '../pki/pki.port.js';
import { DeviceCertificate } from './device-certificate.entity.js';
import type { TenantCaEntity } from './tenant-ca.entity.js';

export const CRL_VALIDITY_MS = 7 * 86_400_000;
const REFRESH_BEFORE_MS = 86_400_000;

export async function resignCrl(em: EntityManager, pki: Pki, ca: TenantCaEntity, now: Date): Promise<void> {
  const revoked = await em.find(
    DeviceCertificate,
    { issuerCaSerialNumber: ca.serialNumber, status: 'REVOKED', notAfter: { $gt: now } },
    { fields: ['serialNumber', 'revokedAt'], orderBy: { serialNumber: 'asc' } },
  );
  const crlNumber = ca.crlNumber + 1;
  const nextUpdate = new Date(now.getTime() + CRL_VALIDITY_MS);
  ca.crlPem = await pki.signCrl({
    tenantId: ca.tenant,
    caSerialNumber: ca.serialNumber,
    crlNumber,
    revoked: revoked.map((c) => ({ serialNumber: c.serialNumber, revokedAt: c.revokedAt ?? now })),
    thisUpdate: now,
    nextUpdate,
  });
  ca.crlNumber = crlNumber;
  ca.crlNextUpdate = nextUpdate;
}

export const crlIsStale = (ca: TenantCaEntity, now: Date): boolean =>
  ca.crlPem == null || ca.crlNextUpdate == null || ca.crlNextUpdate.getTime() - now.getTime() < REFRESH_BEFORE_MS;
