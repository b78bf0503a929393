/**
 * Where each tenant CA's key lives in the key store, and a cache of the imported (non-extractable) signing keys.
 * The first CA of a tenant is `tenants/<tenantId>` (as data dirs made before rotation existed have it); each
 * successor is `tenants/<tenantId>-<SERIAL>`. A UUID never ends in "-<hex serial>" of 32 characters, so the
 * names cannot collide.
 */
import type { SigningCa } from './identity-certificate.js';
import { KeyStore } from './key-store.js';
import { certificateFacts } from './x509.js';

export const firstTenantCaName = (tenantId: string): string => `tenants/${tenantId}`;
export const successorTenantCaName = (tenantId: string, serialNumber: string): string => `tenants/${tenantId}-${serialNumber}`;

export class TenantCaKeys {
  private readonly cache = new Map<string, SigningCa>();

  constructor(private readonly store: KeyStore) {}

  /** The CA of the tenant with this serial, or null when the store holds no such CA. */
  async find(tenantId: string, serialNumber: string): Promise<SigningCa | null> {
    const key = `${tenantId}/${serialNumber}`;
    const cached = this.cache.get(key);
    if (cached) return cached;
    for (const name of [firstTenantCaName(tenantId), successorTenantCaName(tenantId, serialNumber)]) {
      const pair = await this.store.readPair(name);
      if (!pair || certificateFacts(pair.certificatePem).serialNumber !== serialNumber) continue;
      const ca: SigningCa = { certificatePem: pair.certificatePem, privateKey: await KeyStore.importSigningKey(pair) };
      this.cache.set(key, ca);
      return ca;
    }
    return null;
  }
}
