/** The device agent as a library: manufacture identities, run emulated devices. Shares only contract/ with the service. */
export {
  EmulatedDevice,
  DEVICE_STATES,
  SUBSCRIPTION_REFUSED,
  type DeviceLog,
  type DeviceStateName,
  type EmulatedDeviceEvents,
  type EmulatedDeviceOptions,
  type InstalledImage,
  type QoS,
  type StateChange,
  type AttestationOptions,
  type CertificateInfo,
  type RenewalOutcome,
  type ErrorReportsOptions,
  type RecordEventInput,
} from './emulated-device.js';
export {
  ERROR_QUEUE_FILE_SUFFIX,
  ErrorQueue,
  FileErrorQueueStore,
  MemoryErrorQueueStore,
  type ErrorQueueState,
  type ErrorQueueStore,
} from './error-queue.js';
export {
  CrashInjector,
  INJECTED_CRASH_SIGNAL,
  type CrashInjectorOptions,
  type CrashScheduler,
  type CrashTarget,
  type InjectedCrash,
} from './crash-injector.js';
export { FileCertificateStore, MemoryCertificateStore, type CertificateStore, type StoredCertificate } from './certificate-store.js';
export {
  FileInstalledStore,
  INSTALLED_FILE_SUFFIX,
  MemoryInstalledStore,
  type InstalledState,
  type InstalledStore,
} from './updates/installed-store.js';
export { Updater, type ImageStateReport, type InstallOutcome, type RebootReason, type UpdateOptions, type UpdaterEvents, type UpdaterHost } from './updates/updater.js';
export {
  DEFAULT_DOWNLOAD_ATTEMPTS,
  DEFAULT_DOWNLOAD_RETRY,
  downloadImage,
  type DownloadRequest,
  type DownloadResult,
  type DownloadTls,
} from './updates/downloader.js';
export { renewalDelayMs, renewalOverdue, RENEW_FROM, RENEW_UNTIL } from './renewal-schedule.js';
export { prepareAttestation, type Measurements } from './attestation.js';
export {
  IDENTITY_FILE_VERSION,
  IdentityFileError,
  IdentityFileSchema,
  deviceIdOfPrivateKey,
  loadIdentity,
  parseIdentityFile,
  readIdentityFile,
  tlsIdentity,
  writeIdentityFile,
  type IdentityFile,
  type LoadedIdentity,
  type TlsIdentity,
} from './identity.js';
export {
  MANUFACTURE_MUTATION,
  MAX_BATCH_SIZE,
  ManufactureError,
  graphqlEndpoint,
  manufacture,
  type ManufactureFailure,
  type ManufactureOptions,
} from './manufacture.js';
export { createDeviceKey, type NewDeviceKey } from './device-key.js';
export {
  DEFAULT_BACKOFF_BASE_MS,
  DEFAULT_BACKOFF_CAP_MS,
  backoffCeilingMs,
  fullJitterBackoff,
  toBackoffPolicy,
  type BackoffPolicy,
  type FullJitterOptions,
} from './backoff.js';
export { Fleet, formatSummary, type FleetOptions, type FleetSummary } from './fleet.js';
export { claimIntoGroup } from './claim.js';
