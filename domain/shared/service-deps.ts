import type { EntityManager } from '@mikro-orm/core';
import type { EventBus } from '../events/event-bus.js';
import type { ImageStorage } from '../images/image-storage.port.js';
import type { Pki } from '../pki/pki.port.js';
import type { Clock } from './clock.js';
import type { Logger } from './logger.js';

/** What every service is built from (by createServices, once, in the composition root). */
export interface ServiceDeps {
  /** The root EntityManager: each call forks it, so one call is one unit of work and nothing leaks between calls. */
  readonly em: EntityManager;
  readonly bus: EventBus;
  readonly clock: Clock;
  readonly pki: Pki;
  readonly log: Logger;
  /** The platform operator's bearer token. Never logged. */
  readonly platformAdminKey: string;
  readonly certificates: CertificatePolicy;
  /** @default DEFAULT_ERROR_REPORT_POLICY */
  readonly errorReports?: ErrorReportPolicy;
  /** Where image payloads live. Without it, uploads and downloads fail (INTERNAL). */
  readonly imageStorage?: ImageStorage;
  /** Largest image payload accepted. @default 64 MiB */
  readonly maxImageBytes?: number;
}

/** Certificate brokering settings (app/config.ts reads them from the environment). */
export interface CertificatePolicy {
  /** Lifetime of a device certificate. @default 86400 (24 h, as Azure Sphere) */
  readonly deviceCertificateLifetimeSeconds: number;
  /** How long an attestation nonce stays usable. @default 60 */
  readonly nonceTtlSeconds: number;
  /** A successor tenant CA is made this long before the active one expires. @default 90 days */
  readonly caRotationLeadSeconds: number;
  /** ...and becomes active this long after it is made (automatic rotation only). @default 45 days */
  readonly caActivationDelaySeconds: number;
  /** OS releases the platform knows from the start (registered idempotently at start-up). @default ['24.10'] */
  readonly knownOsReleases: readonly string[];
}

export const DEFAULT_CERTIFICATE_POLICY: CertificatePolicy = Object.freeze({
  deviceCertificateLifetimeSeconds: 86_400,
  nonceTtlSeconds: 60,
  caRotationLeadSeconds: 90 * 86_400,
  caActivationDelaySeconds: 45 * 86_400,
  knownOsReleases: Object.freeze(['24.10']),
});

/** Error report settings (app/config.ts reads them from the environment). */
export interface ErrorReportPolicy {
  /** Events older than this are purged (and refused on arrival). @default 14 */
  readonly retentionDays: number;
  /** Events stored per device per rolling hour; the excess is only counted. @default 1000 */
  readonly perDeviceHourlyLimit: number;
  /** How far in the future an event's end time may be (device clocks drift). @default 300 */
  readonly maxClockSkewSeconds: number;
}

export const DEFAULT_ERROR_REPORT_POLICY: ErrorReportPolicy = Object.freeze({
  retentionDays: 14,
  perDeviceHourlyLimit: 1000,
  maxClockSkewSeconds: 300,
});
