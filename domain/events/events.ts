/**
 * Committed facts the service announces. The bus is a notification channel, not storage: a subscriber that
 * missed an event re-reads the database. Every event names its tenant (null: an unclaimed device) so fan-out can
 * be scoped without a lookup.
 */
export interface DeviceStatusChanged {
  readonly type: 'DeviceStatusChanged';
  readonly tenantId: string | null;
  readonly deviceId: string;
  readonly online: boolean;
  /** Per-device connection sequence: a consumer ignores an event older than one it has already seen. */
  readonly connectionSeq: number;
  readonly at: string; // ISO-8601
  readonly productId: string | null;
  readonly deviceGroupId: string | null;
}

export type CertificateEventKind = 'ISSUED' | 'RENEWED' | 'RENEWAL_FAILED' | 'ATTESTATION_FAILED' | 'REVOKED' | 'RESTORED';

/**
 * Something happened to a device's certificate. RENEWED/RENEWAL_FAILED when the device already held a certificate,
 * ISSUED/ATTESTATION_FAILED when it did not. REVOKED also tells every broker node to cut the device's connection.
 */
export interface CertificateChanged {
  readonly type: 'CertificateChanged';
  readonly kind: CertificateEventKind;
  readonly tenantId: string | null;
  readonly deviceId: string;
  /** The certificate issued (ISSUED, RENEWED); null otherwise. */
  readonly serialNumber: string | null;
  readonly notAfter: string | null;
  /** Refusal reason or revocation reason; null otherwise. */
  readonly reason: string | null;
  readonly at: string; // ISO-8601
  readonly productId: string | null;
  readonly deviceGroupId: string | null;
}

export type DomainEvent = DeviceStatusChanged | CertificateChanged;
export type DomainEventType = DomainEvent['type'];
