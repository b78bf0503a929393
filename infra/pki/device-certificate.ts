/**
 * The certificate a tenant CA issues to a device after a successful attestation (the Azure Sphere "customer
 * certificate"): the device's new operational key, both IDs in SAN URIs so a relying party needs no lookup, and
 * both TLS usages so it serves device-to-cloud and device-to-device connections.
 */
import { deviceIdUri, tenantIdUri } from '../../contract/identity.js';
import { IDENTITY_ORGANIZATION, type SigningCa } from './identity-certificate.js';
import { issueCertificate, type CryptoKey } from './x509.js';

export async function signDeviceCertificate(opts: {
  readonly tenantCa: SigningCa;
  readonly publicKey: CryptoKey;
  readonly deviceId: string;
  readonly tenantId: string;
  readonly validFrom: Date;
  readonly validTo: Date;
}): Promise<string> {
  return issueCertificate({
    issuer: opts.tenantCa,
    publicKey: opts.publicKey,
    subject: [{ CN: opts.deviceId.slice(0, 64) }, { OU: opts.tenantId }, { O: IDENTITY_ORGANIZATION }],
    validFrom: opts.validFrom,
    validTo: opts.validTo,
    extKeyUsage: ['clientAuth', 'serverAuth'],
    sanUri: [deviceIdUri(opts.deviceId), tenantIdUri(opts.tenantId)],
  });
}
