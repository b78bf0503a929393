/**
 * Committed facts the service announces. The bus is a notification channel, not storage: a subscriber that
 * missed an event re-reads the database. Every event names its tenant (null: an unclaimed device) so fan-out can
 * be scoped without a lookup.
 */
import type { DeploymentProgress } from '../views.js';

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

/** An error report was stored (once per event; a resent duplicate is not announced again). Times are ISO-8601. */
export interface ErrorReported {
  readonly type: 'ErrorReported';
  readonly tenantId: string;
  readonly deviceId: string;
  readonly report: {
    readonly id: string;
    readonly eventId: string;
    readonly deviceId: string;
    readonly productId: string | null;
    readonly deviceGroupId: string | null;
    readonly eventType: 'Planned' | 'Unplanned';
    readonly eventClass: 'OS' | 'Application';
    readonly category: string;
    readonly count: number;
    readonly description: string;
    readonly exitCode: number | null;
    readonly signal: number | null;
    readonly componentId: string | null;
    readonly imageId: string | null;
    readonly startTime: string;
    readonly endTime: string;
    readonly receivedAt: string;
    readonly issueId: string | null;
  };
}

/** The first event of a new signature opened an issue. Times are ISO-8601. */
export interface IssueOpened {
  readonly type: 'IssueOpened';
  readonly tenantId: string;
  /** Where it was first seen. */
  readonly deviceId: string;
  readonly productId: string | null;
  readonly deviceGroupId: string | null;
  readonly issue: {
    readonly id: string;
    readonly category: string;
    readonly eventClass: 'OS' | 'Application';
    readonly componentId: string | null;
    readonly imageId: string | null;
    readonly exitCode: number | null;
    readonly signal: number | null;
    readonly firstSeen: string;
    readonly lastSeen: string;
    readonly eventCount: number;
    readonly deviceCount: number;
    readonly deploymentId: string | null;
  };
}

/** What a device should run changed (a deployment, a rollout wave, an OS release): the broker tells it. */
export interface DeviceTargetChanged {
  readonly type: 'DeviceTargetChanged';
  readonly tenantId: string | null;
  readonly deviceId: string;
}

/** A deployment's counts or state changed. */
export interface DeploymentProgressChanged {
  readonly type: 'DeploymentProgressChanged';
  readonly tenantId: string;
  readonly deploymentId: string;
  readonly deviceGroupId: string;
  readonly state: 'ACTIVE' | 'HALTED' | 'CANCELLED' | 'SUPERSEDED';
  readonly reason: string | null;
  readonly wave: number;
  readonly progress: DeploymentProgress;
  readonly at: string;
}

export type DomainEvent = DeviceStatusChanged | CertificateChanged | ErrorReported | IssueOpened | DeviceTargetChanged | DeploymentProgressChanged;
export type DomainEventType = DomainEvent['type'];
