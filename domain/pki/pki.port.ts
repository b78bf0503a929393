/**
 * What the domain needs from the PKI. infra/pki implements it (keys live under the data dir, never in the
 * database, never logged). All certificates ECDSA P-256 / SHA-256.
 */
export interface CertificateFacts {
  readonly certificatePem: string;
  /** Upper-case hex, no separators. */
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly subject: string;
  readonly issuer: string;
  /** SHA-256 of the DER, upper-case hex. */
  readonly sha256Thumbprint: string;
}

export interface DeviceIdentity extends CertificateFacts {
  /** 128 upper-case hex: the raw X||Y of the device's P-256 public key. */
  readonly deviceId: string;
}

export interface Pki {
  /** Makes the tenant's CA: P-256, valid 2 years, signed by the platform root; keeps its key in the key store. */
  createTenantCa(tenantId: string, tenantName: string): Promise<CertificateFacts>;
  /**
   * Manufacturing: checks the CSR's own signature (proof the device holds the key), derives the device ID from
   * its public key and signs an identity certificate with the manufacturing CA. Throws DomainError BAD_USER_INPUT.
   */
  issueIdentityCertificate(csrPem: string): Promise<DeviceIdentity>;
  /**
   * Checks an identity certificate: signed by the manufacturing CA, currently valid, device ID in the SAN equal
   * to the one derived from its key. Throws DomainError BAD_USER_INPUT with the reason.
   */
  verifyIdentityCertificate(certificatePem: string): Promise<DeviceIdentity>;
}
