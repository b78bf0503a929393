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
  /** SHA-1 of the DER, upper-case hex (what Azure tools and IoT Hub show as "thumbprint"). */
  readonly sha1Thumbprint: string;
}

export interface DeviceIdentity extends CertificateFacts {
  /** 128 upper-case hex: the raw X||Y of the device's P-256 public key. */
  readonly deviceId: string;
}

/** A revoked certificate as a CRL lists it. */
export interface RevokedEntry {
  readonly serialNumber: string;
  readonly revokedAt: Date;
}

export type CsrCheck =
  | { readonly ok: true; /** Uncompressed SEC1 point, upper-case hex (130 characters). */ readonly publicKeyHex: string }
  | { readonly ok: false; readonly reason: string };

export interface Pki {
  /** The platform root CA (PEM): the top of every tenant chain. */
  readonly rootCaPem: string;
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

  /**
   * A further CA for the tenant (rotation): P-256, valid 2 years from now, signed by the platform root, its key
   * kept in the key store under a name that includes its serial. The tenant's earlier CAs stay usable.
   */
  createSuccessorTenantCa(tenantId: string, tenantName: string): Promise<CertificateFacts>;
  /** The CSR's own signature holds, and its key is P-256. Never throws for bad input. */
  checkCsr(csrPem: string): Promise<CsrCheck>;
  /**
   * Verifies an ECDSA P-256 / SHA-256 signature in IEEE P1363 form (r || s) over `data` with a device's identity
   * public key (uncompressed SEC1 point, hex). False for any malformed input.
   */
  verifyDeviceSignature(publicKeyHex: string, data: Uint8Array, signature: Uint8Array): Promise<boolean>;
  /**
   * A device certificate signed by the tenant CA with serial `caSerialNumber`: the CSR's key, subject
   * CN=<first 64 characters of the device ID>, O=Spheregate devices, OU=<tenant ID>; SAN URIs
   * `urn:spheregate:device:<device ID>` and `urn:spheregate:tenant:<tenant ID>`; EKU clientAuth + serverAuth;
   * valid from now (less the clock-skew allowance) for `lifetimeSeconds`. Throws DomainError BAD_USER_INPUT for a
   * bad CSR, NOT_FOUND for an unknown CA.
   */
  issueDeviceCertificate(input: {
    readonly tenantId: string;
    readonly caSerialNumber: string;
    readonly deviceId: string;
    readonly csrPem: string;
    readonly lifetimeSeconds: number;
  }): Promise<CertificateFacts>;
  /** A proof-of-possession certificate: subject CN=<verificationCode>, signed by that tenant CA, valid 1 day. */
  issueProofOfPossession(input: { readonly tenantId: string; readonly caSerialNumber: string; readonly verificationCode: string }): Promise<CertificateFacts>;
  /**
   * The platform root's own CRL (PEM; it has revoked no tenant CA). Relying parties that check revocation along
   * the whole chain (node's TLS does, once given any CRL) need one for every CA above the device.
   */
  rootCrl(): Promise<string>;
  /** An X.509 v2 CRL (PEM) signed by that tenant CA, listing `revoked`, with the CRL number given. */
  signCrl(input: {
    readonly tenantId: string;
    readonly caSerialNumber: string;
    readonly crlNumber: number;
    readonly revoked: readonly RevokedEntry[];
    readonly thisUpdate: Date;
    readonly nextUpdate: Date;
  }): Promise<string>;
}
