/**
 * Configuration: environment -> typed, validated, frozen config with zero-set-up defaults. A bad value is a clear
 * error naming the variable; nothing starts half-configured.
 */
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import type { CertificatePolicy, ErrorReportPolicy } from '../domain/shared/service-deps.js';
import type { LogLevel } from '../infra/log.js';

export interface Config {
  readonly dataDir: string;
  readonly httpPort: number;
  readonly mqttPort: number;
  readonly bindAddress: string;
  readonly hostnames: readonly string[];
  /** null: SQLite file in the data dir. */
  readonly databaseUrl: string | null;
  /** null: read or generate `<dataDir>/admin.key`. */
  readonly adminKey: string | null;
  /** Operator-provided server certificate and key files (both or neither). */
  readonly serverCertificateFile: string | null;
  readonly serverKeyFile: string | null;
  readonly nodeId: string;
  readonly logLevel: LogLevel;
  readonly certificates: CertificatePolicy;
  readonly errorReports: ErrorReportPolicy;
  readonly updates: UpdateConfig;
}

/** Over-the-air updates. */
export interface UpdateConfig {
  /** HTTPS (mutual TLS) port devices download image payloads from. */
  readonly downloadPort: number;
  /** What devices are told to download from; null: https://localhost:<download port>. */
  readonly downloadBaseUrl: string | null;
  /** Devices wait a random time up to this before downloading. */
  readonly delayWindowSeconds: number;
  readonly maxImageBytes: number;
  /** How often staged rollouts are driven (one node of the cluster at a time). */
  readonly rolloutIntervalMs: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
  }
}

/** Every variable, its default and meaning: the README's table is checked against this list by a test. */
export const CONFIG_VARIABLES = {
  SPHEREGATE_DATA_DIR: { default: './data', doc: 'Where the SQLite file, the development PKI and the admin key live.' },
  SPHEREGATE_HTTP_PORT: { default: '4000', doc: 'GraphQL over HTTP at /graphql, graphql-ws on the same path.' },
  SPHEREGATE_MQTT_PORT: { default: '8883', doc: 'MQTT 3.1.1 over mutual TLS.' },
  SPHEREGATE_BIND_ADDRESS: { default: '0.0.0.0', doc: 'Address both listeners bind to.' },
  SPHEREGATE_HOSTNAMES: { default: '', doc: 'Comma-separated extra DNS names or IPs for the server certificate (localhost and 127.0.0.1 are always in).' },
  DATABASE_URL: { default: '', doc: 'Unset: SQLite file in the data dir. `postgres://user@host:port/db`: PostgreSQL.' },
  SPHEREGATE_ADMIN_KEY: { default: '', doc: 'Platform-admin key (at least 32 characters). Unset: generated on first start into `<data dir>/admin.key` (mode 0600).' },
  SPHEREGATE_SERVER_CERT_FILE: { default: '', doc: 'Bring your own server certificate chain (PEM); needs SPHEREGATE_SERVER_KEY_FILE.' },
  SPHEREGATE_SERVER_KEY_FILE: { default: '', doc: 'Private key (PEM) of SPHEREGATE_SERVER_CERT_FILE.' },
  SPHEREGATE_NODE_ID: { default: '(host name)', doc: 'Stable name of this broker node; on start its stale connections are marked offline.' },
  SPHEREGATE_LOG_LEVEL: { default: 'info', doc: 'fatal, error, warn, info, debug, trace or silent.' },
  SPHEREGATE_DEVICE_CERT_LIFETIME: { default: '86400', doc: 'Lifetime in seconds of a device certificate issued after attestation (1 to 34560000).' },
  SPHEREGATE_ATTESTATION_NONCE_TTL: { default: '60', doc: 'Seconds an attestation nonce stays usable (1 to 3600).' },
  SPHEREGATE_CA_ROTATION_LEAD_DAYS: { default: '90', doc: 'A successor tenant CA is made this many days before the active one expires.' },
  SPHEREGATE_CA_ACTIVATION_DELAY_DAYS: { default: '45', doc: 'An automatically made successor CA starts signing this many days after it is made.' },
  SPHEREGATE_OS_RELEASES: { default: '24.10', doc: 'Comma-separated OS versions the platform knows from the start (attestation refuses others).' },
  SPHEREGATE_ERROR_RETENTION_DAYS: { default: '14', doc: 'Days error reports are kept (1 to 400); older ones are purged hourly and refused on arrival.' },
  SPHEREGATE_DOWNLOAD_PORT: { default: '8443', doc: 'HTTPS with mutual TLS: devices download image payloads here with their certificate.' },
  SPHEREGATE_DOWNLOAD_BASE_URL: { default: '(https://localhost:<download port>)', doc: 'The https:// address devices are told to download from (behind a TLS pass-through balancer, its address).' },
  SPHEREGATE_UPDATE_DELAY_WINDOW: { default: '60', doc: 'Seconds (0 to 86400): a device waits a random time up to this before downloading, so a fleet does not download at once.' },
  SPHEREGATE_MAX_IMAGE_BYTES: { default: '67108864', doc: 'Largest image payload accepted at upload (bytes, 1 to 2147483647).' },
  SPHEREGATE_ROLLOUT_INTERVAL_MS: { default: '5000', doc: 'How often staged rollouts take their next step (ms, 100 to 3600000).' },
  SPHEREGATE_ERROR_RATE_LIMIT: { default: '1000', doc: 'Error events stored per device per rolling hour (1 to 1000000); the excess is counted, not stored.' },
} as const;

type Env = Readonly<Record<string, string | undefined>>;

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const HOSTNAME = /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

function text(env: Env, name: keyof typeof CONFIG_VARIABLES): string | null {
  const v = env[name]?.trim();
  return v ? v : null;
}

function port(env: Env, name: keyof typeof CONFIG_VARIABLES, fallback: number): number {
  const v = text(env, name);
  if (v === null) return fallback;
  if (!/^\d+$/.test(v) || Number(v) > 65535) throw new ConfigError(name, `must be a port number 0..65535, got "${v}"`);
  return Number(v);
}

function integer(env: Env, name: keyof typeof CONFIG_VARIABLES, fallback: number, min: number, max: number): number {
  const v = text(env, name);
  if (v === null) return fallback;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new ConfigError(name, `must be an integer ${min}..${max}, got "${v}"`);
  return Number(v);
}

function certificatePolicy(env: Env): CertificatePolicy {
  const DAY = 86_400;
  const leadDays = integer(env, 'SPHEREGATE_CA_ROTATION_LEAD_DAYS', 90, 1, 700);
  const delayDays = integer(env, 'SPHEREGATE_CA_ACTIVATION_DELAY_DAYS', 45, 0, 700);
  if (delayDays >= leadDays) {
    throw new ConfigError('SPHEREGATE_CA_ACTIVATION_DELAY_DAYS', `must be less than SPHEREGATE_CA_ROTATION_LEAD_DAYS (${leadDays}), or the old CA expires first`);
  }
  const osReleases = (text(env, 'SPHEREGATE_OS_RELEASES') ?? '24.10').split(',').map((v) => v.trim()).filter(Boolean);
  for (const v of osReleases) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(v)) throw new ConfigError('SPHEREGATE_OS_RELEASES', `"${v}" is not an OS version`);
  }
  return Object.freeze({
    deviceCertificateLifetimeSeconds: integer(env, 'SPHEREGATE_DEVICE_CERT_LIFETIME', 86_400, 1, 400 * DAY),
    nonceTtlSeconds: integer(env, 'SPHEREGATE_ATTESTATION_NONCE_TTL', 60, 1, 3600),
    caRotationLeadSeconds: leadDays * DAY,
    caActivationDelaySeconds: delayDays * DAY,
    knownOsReleases: Object.freeze(osReleases),
  });
}

function downloadBaseUrl(env: Env): string | null {
  const v = text(env, 'SPHEREGATE_DOWNLOAD_BASE_URL');
  if (v === null) return null;
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new ConfigError('SPHEREGATE_DOWNLOAD_BASE_URL', `is not a URL: "${v}"`);
  }
  if (url.protocol !== 'https:' || url.pathname !== '/' || url.search || url.hash) throw new ConfigError('SPHEREGATE_DOWNLOAD_BASE_URL', 'must be https://host[:port] with no path');
  return `${url.protocol}//${url.host}`;
}

export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const hostnames = (text(env, 'SPHEREGATE_HOSTNAMES') ?? '')
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
  for (const h of hostnames) {
    if (!HOSTNAME.test(h) && isIP(h) === 0) throw new ConfigError('SPHEREGATE_HOSTNAMES', `"${h}" is not a host name or IP address`);
  }

  const databaseUrl = text(env, 'DATABASE_URL');
  if (databaseUrl !== null) {
    let url: URL;
    try {
      url = new URL(databaseUrl);
    } catch {
      throw new ConfigError('DATABASE_URL', 'is not a URL (expected postgres://user@host:port/database)');
    }
    if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
      throw new ConfigError('DATABASE_URL', `unsupported scheme "${url.protocol}" (expected postgres://; unset it for SQLite)`);
    }
  }

  const adminKey = text(env, 'SPHEREGATE_ADMIN_KEY');
  if (adminKey !== null && (adminKey.length < 32 || /\s/.test(adminKey))) {
    throw new ConfigError('SPHEREGATE_ADMIN_KEY', 'must be at least 32 characters without spaces');
  }

  const serverCertificateFile = text(env, 'SPHEREGATE_SERVER_CERT_FILE');
  const serverKeyFile = text(env, 'SPHEREGATE_SERVER_KEY_FILE');
  if ((serverCertificateFile === null) !== (serverKeyFile === null)) {
    throw new ConfigError(
      serverCertificateFile === null ? 'SPHEREGATE_SERVER_KEY_FILE' : 'SPHEREGATE_SERVER_CERT_FILE',
      `needs ${serverCertificateFile === null ? 'SPHEREGATE_SERVER_CERT_FILE' : 'SPHEREGATE_SERVER_KEY_FILE'} too`,
    );
  }

  const bindAddress = text(env, 'SPHEREGATE_BIND_ADDRESS') ?? '0.0.0.0';
  if (isIP(bindAddress) === 0 && bindAddress !== 'localhost') {
    throw new ConfigError('SPHEREGATE_BIND_ADDRESS', `"${bindAddress}" is not an IP address`);
  }

  const logLevel = (text(env, 'SPHEREGATE_LOG_LEVEL') ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('SPHEREGATE_LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`);

  const nodeId = text(env, 'SPHEREGATE_NODE_ID') ?? hostname();
  if (!/^[\w.-]{1,100}$/.test(nodeId)) throw new ConfigError('SPHEREGATE_NODE_ID', 'letters, digits, ".", "_", "-" only (1..100)');

  return Object.freeze({
    dataDir: resolve(cwd, text(env, 'SPHEREGATE_DATA_DIR') ?? './data'),
    httpPort: port(env, 'SPHEREGATE_HTTP_PORT', 4000),
    mqttPort: port(env, 'SPHEREGATE_MQTT_PORT', 8883),
    bindAddress,
    hostnames: Object.freeze(hostnames),
    databaseUrl,
    adminKey,
    serverCertificateFile: serverCertificateFile === null ? null : resolve(cwd, serverCertificateFile),
    serverKeyFile: serverKeyFile === null ? null : resolve(cwd, serverKeyFile),
    nodeId,
    logLevel,
    certificates: certificatePolicy(env),
    errorReports: Object.freeze({
      retentionDays: integer(env, 'SPHEREGATE_ERROR_RETENTION_DAYS', 14, 1, 400),
      perDeviceHourlyLimit: integer(env, 'SPHEREGATE_ERROR_RATE_LIMIT', 1000, 1, 1_000_000),
      maxClockSkewSeconds: 300,
    }),
    updates: Object.freeze({
      downloadPort: port(env, 'SPHEREGATE_DOWNLOAD_PORT', 8443),
      downloadBaseUrl: downloadBaseUrl(env),
      delayWindowSeconds: integer(env, 'SPHEREGATE_UPDATE_DELAY_WINDOW', 60, 0, 86_400),
      maxImageBytes: integer(env, 'SPHEREGATE_MAX_IMAGE_BYTES', 64 * 1024 * 1024, 1, 2_147_483_647),
      rolloutIntervalMs: integer(env, 'SPHEREGATE_ROLLOUT_INTERVAL_MS', 5000, 100, 3_600_000),
    }),
  });
}
