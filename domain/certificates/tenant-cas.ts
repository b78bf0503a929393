/** The CAs of one tenant: which one signs now, which are still trusted, and how each is shown. */
import { createHash, X509Certificate } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/core';
import type { CertificateFacts } from '../pki/pki.port.js';
import { Tenant } from '../tenancy/tenant.entity.js';
import type { TenantCaStatus, TenantCaView } from '../views.js';
import { TenantCa, type TenantCaEntity } from './tenant-ca.entity.js';

/** The row for a CA the PKI just made; `successorOf` names the CA it succeeds (null for a tenant's first). */
export function tenantCaRow(
  em: EntityManager,
  tenantId: string,
  facts: CertificateFacts,
  activeFrom: Date,
  now: Date,
  successorOf: string | null = null,
): TenantCaEntity {
  return em.create(TenantCa, {
    serialNumber: facts.serialNumber,
    tenant: tenantId,
    certificatePem: facts.certificatePem,
    subject: facts.subject.slice(0, 500),
    notBefore: facts.notBefore,
    notAfter: facts.notAfter,
    sha1Thumbprint: facts.sha1Thumbprint,
    sha256Thumbprint: facts.sha256Thumbprint,
    activeFrom,
    successorOf,
    createdAt: now,
    crlNumber: 0,
    crlPem: null,
    crlNextUpdate: null,
  });
}

/**
 * Every CA of the tenant, newest activeFrom first. Tenants made before certificate brokering existed have only
 * Tenant.caCertificatePem: their row is written here, once, from that certificate.
 */
export async function tenantCas(em: EntityManager, tenantId: string): Promise<TenantCaEntity[]> {
  const rows = await em.find(TenantCa, { tenant: tenantId }, { orderBy: { activeFrom: 'desc', createdAt: 'desc' } });
  if (rows.length > 0) return rows;
  const tenant = await em.findOne(Tenant, { id: tenantId });
  if (!tenant) return [];
  const row = tenantCaRow(em, tenantId, factsOf(tenant.caCertificatePem), tenant.createdAt, tenant.createdAt);
  await em.flush();
  return [row];
}

/** The CA that signs new certificates at `now`: the latest already active and unexpired one. */
export function activeCa(cas: readonly TenantCaEntity[], now: Date): TenantCaEntity | null {
  return cas.find((ca) => ca.activeFrom.getTime() <= now.getTime() && ca.notAfter.getTime() > now.getTime()) ?? null;
}

/** CAs a relying party must trust at `now`: every unexpired one, the active one first. */
export function trustedCas(cas: readonly TenantCaEntity[], now: Date): TenantCaEntity[] {
  const active = activeCa(cas, now);
  const rest = cas.filter((ca) => ca !== active && ca.notAfter.getTime() > now.getTime());
  return active ? [active, ...rest] : rest;
}

export function caStatus(ca: TenantCaEntity, active: TenantCaEntity | null, now: Date): TenantCaStatus {
  if (ca.notAfter.getTime() <= now.getTime()) return 'Expired';
  return ca === active ? 'Active' : 'Inactive';
}

export function toTenantCaView(ca: TenantCaEntity, active: TenantCaEntity | null, now: Date): TenantCaView {
  return {
    serialNumber: ca.serialNumber,
    status: caStatus(ca, active, now),
    notBefore: ca.notBefore,
    notAfter: ca.notAfter,
    subject: ca.subject,
    sha1Thumbprint: ca.sha1Thumbprint,
    sha256Thumbprint: ca.sha256Thumbprint,
    certificatePem: ca.certificatePem,
    activeFrom: ca.activeFrom,
  };
}

function factsOf(pem: string): CertificateFacts {
  const c = new X509Certificate(pem);
  const hex = (algorithm: string): string => createHash(algorithm).update(c.raw).digest('hex').toUpperCase();
  return {
    certificatePem: pem,
    serialNumber: c.serialNumber.toUpperCase(),
    notBefore: new Date(c.validFrom),
    notAfter: new Date(c.validTo),
    subject: c.subject.replace(/\n/g, ', '),
    issuer: c.issuer.replace(/\n/g, ', '),
    sha256Thumbprint: hex('sha256'),
    sha1Thumbprint: hex('sha1'),
  };
}
