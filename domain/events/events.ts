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

export type DomainEvent = DeviceStatusChanged;
export type DomainEventType = DomainEvent['type'];
