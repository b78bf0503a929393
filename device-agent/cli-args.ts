/**
 * The device-agent command line, parsed into a typed command and nothing else (no files, no network), so every
 * flag error is a clear UsageError that a test can see.
 */
import { parseArgs } from 'node:util';

export const DEFAULT_SERVICE_URL = 'http://localhost:4000';
export const DEFAULT_BROKER_URL = 'mqtts://localhost:8883';
export const DEFAULT_CA_FILE = './data/pki/root-ca.pem';
export const DEFAULT_ADMIN_KEY_FILE = './data/admin.key';
export const ADMIN_KEY_ENV = 'SPHEREGATE_ADMIN_KEY';
const MAX_COUNT = 1_000_000;
/** Most injected crashes per device per hour (one a second). */
export const MAX_CRASH_RATE = 3600;

export const USAGE = `Usage: device-agent <command> [options]

Commands:
  manufacture   Make device identities: each device creates its own P-256 key and CSR, the service signs them.
  run           Run emulated devices over MQTT with mutual TLS until Ctrl-C / SIGTERM.
  fleet         Manufacture N devices in memory (optionally claim them) and run them (in this process or workers).

device-agent manufacture --count N --out DIR [options]
  --count N          how many devices to make (1-${MAX_COUNT})
  --out DIR          where to write <deviceId>.json identity files (mode 0600)
  --service URL      the Spheregate gateway (default ${DEFAULT_SERVICE_URL}; /graphql is appended)
  --admin-key KEY    platform-admin key; else env ${ADMIN_KEY_ENV}; else the file ${DEFAULT_ADMIN_KEY_FILE}
  --ca FILE          the platform root CA (PEM) that signs the service's server certificate, copied into each
                     identity file as its trust anchor (default ${DEFAULT_CA_FILE}, i.e. run from the
                     directory you started spheregate in)

device-agent run --identity PATH [options]
  --identity PATH    an identity file, or a directory whose *.json identity files all run
  --broker URL       the Spheregate MQTT broker (default ${DEFAULT_BROKER_URL})
  --ca FILE          use these trust anchors instead of the ones in the identity files
  --no-attest        do not attest (by default each device attests once online, keeps the certificate its
                     tenant CA issues in <deviceId>.certificate.json beside its identity file, and renews it
                     at 60-80 % of its lifetime)
  --connect-with identity|tenant-certificate
                     the certificate presented to the broker (default identity; tenant-certificate once held)
  --crash-rate R     inject R crashes per device per hour on average (default 0: none; up to ${MAX_CRASH_RATE}): an
                     AppCrash (SIGSEGV) of an installed image, or an OSCrash. Recorded error events are sent as
                     error reports and kept until acknowledged in <deviceId>.errors.json beside the identity file
  --image-trust FILE take over-the-air updates: install only images whose signature verifies with one of the
                     public keys (PEM, one or more) in FILE; what each device installed is kept in
                     <deviceId>.installed.json beside its identity file. Without it, update targets are ignored

device-agent fleet --count N [options]
  --count N          how many devices (1-${MAX_COUNT}); made in memory with the admin key (as manufacture)
  --service URL      the Spheregate gateway (default ${DEFAULT_SERVICE_URL})
  --broker URL       the Spheregate MQTT broker (default ${DEFAULT_BROKER_URL})
  --admin-key KEY    platform-admin key; else env ${ADMIN_KEY_ENV}; else the file ${DEFAULT_ADMIN_KEY_FILE}
  --ca FILE          the platform root CA (default ${DEFAULT_CA_FILE})
  --tenant-key KEY   with --claim-into: claim the devices into this tenant ...
  --claim-into GROUP ... and assign them to this device group ID
  --ramp N           devices started per second (default 100); at most 64 connect at once
  --up-timeout S     seconds for all devices to come online before the exit code turns 1 (default 60)
  --no-attest        do not attest
  --crash-rate R     inject R crashes per device per hour on average (default 0: none; up to ${MAX_CRASH_RATE}),
                     sent as error reports (queued in memory until acknowledged)
  --image-trust FILE take over-the-air updates signed by one of the public keys (PEM) in FILE (kept in memory)
  --workers N        run the devices in N worker processes (default 1: this process), when one core is not enough
                     for their TLS and crypto; the summary adds them up
  Prints a one-line summary every second; Ctrl-C stops every device cleanly.

  -h, --help         show this help
`;

export type Command =
  | { readonly kind: 'help' }
  | {
      readonly kind: 'manufacture';
      readonly count: number;
      readonly outDir: string;
      readonly serviceUrl: string;
      /** From --admin-key or the environment; null: read DEFAULT_ADMIN_KEY_FILE. */
      readonly adminKey: string | null;
      readonly caFile: string;
    }
  | FleetCommand
  | {
      readonly kind: 'run';
      readonly identityPath: string;
      readonly brokerUrl: string;
      readonly caFile: string | null;
      readonly attest: boolean;
      readonly connectWith: 'identity' | 'tenant-certificate';
      /** Mean injected crashes per device per hour; 0: none. */
      readonly crashRatePerHour: number;
      /** PEM file of the image signing keys the devices trust; null: no over-the-air updates. */
      readonly imageTrustFile: string | null;
    };

export type FleetCommand = {
  readonly kind: 'fleet';
  readonly count: number;
  readonly serviceUrl: string;
  readonly brokerUrl: string;
  readonly adminKey: string | null;
  readonly caFile: string;
  readonly claim: { readonly tenantKey: string; readonly deviceGroupId: string } | null;
  readonly rampPerSecond: number;
  readonly upTimeoutSeconds: number;
  readonly attest: boolean;
  /** Mean injected crashes per device per hour; 0: none. */
  readonly crashRatePerHour: number;
  /** PEM file of the image signing keys the devices trust; null: no over-the-air updates. */
  readonly imageTrustFile: string | null;
  /** Worker processes running the devices; 1: all in this process. */
  readonly workers: number;
};

/** Worker processes a fleet may use: a few per core is plenty. */
export const MAX_WORKERS = 64;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function parseCommand(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): Command {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') return { kind: 'help' };
  if (name === 'manufacture') return parseManufacture(rest, env);
  if (name === 'run') return parseRun(rest);
  if (name === 'fleet') return parseFleet(rest, env);
  throw new UsageError(`unknown command "${name}" (expected "manufacture", "run" or "fleet")`);
}

function parseManufacture(args: string[], env: Readonly<Record<string, string | undefined>>): Command {
  const { values } = parseFlags(args, {
    count: { type: 'string' },
    out: { type: 'string' },
    service: { type: 'string' },
    'admin-key': { type: 'string' },
    ca: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values['help'] === true) return { kind: 'help' };
  const count = requireString(values['count'], '--count');
  if (!/^\d+$/.test(count) || Number(count) < 1 || Number(count) > MAX_COUNT) {
    throw new UsageError(`--count must be a whole number from 1 to ${MAX_COUNT}, got "${count}"`);
  }
  const serviceUrl = optionalString(values['service']) ?? DEFAULT_SERVICE_URL;
  requireUrl(serviceUrl, '--service', ['http:', 'https:']);
  const adminKey = optionalString(values['admin-key']) ?? nonEmpty(env[ADMIN_KEY_ENV]) ?? null;
  return {
    kind: 'manufacture',
    count: Number(count),
    outDir: requireString(values['out'], '--out'),
    serviceUrl,
    adminKey,
    caFile: optionalString(values['ca']) ?? DEFAULT_CA_FILE,
  };
}

function parseFleet(args: string[], env: Readonly<Record<string, string | undefined>>): Command {
  const { values } = parseFlags(args, {
    count: { type: 'string' },
    service: { type: 'string' },
    broker: { type: 'string' },
    'admin-key': { type: 'string' },
    ca: { type: 'string' },
    'tenant-key': { type: 'string' },
    'claim-into': { type: 'string' },
    ramp: { type: 'string' },
    'up-timeout': { type: 'string' },
    'no-attest': { type: 'boolean' },
    'crash-rate': { type: 'string' },
    'image-trust': { type: 'string' },
    workers: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values['help'] === true) return { kind: 'help' };
  const whole = (flag: string, raw: string, min: number, max: number): number => {
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new UsageError(`${flag} must be a whole number from ${min} to ${max}, got "${raw}"`);
    return Number(raw);
  };
  const serviceUrl = optionalString(values['service']) ?? DEFAULT_SERVICE_URL;
  requireUrl(serviceUrl, '--service', ['http:', 'https:']);
  const brokerUrl = optionalString(values['broker']) ?? DEFAULT_BROKER_URL;
  requireUrl(brokerUrl, '--broker', ['mqtts:']);
  const tenantKey = optionalString(values['tenant-key']);
  const deviceGroupId = optionalString(values['claim-into']);
  if ((tenantKey === undefined) !== (deviceGroupId === undefined)) throw new UsageError('--tenant-key and --claim-into go together');
  const command: FleetCommand = {
    kind: 'fleet',
    count: whole('--count', requireString(values['count'], '--count'), 1, MAX_COUNT),
    serviceUrl,
    brokerUrl,
    adminKey: optionalString(values['admin-key']) ?? nonEmpty(env[ADMIN_KEY_ENV]) ?? null,
    caFile: optionalString(values['ca']) ?? DEFAULT_CA_FILE,
    claim: tenantKey !== undefined && deviceGroupId !== undefined ? { tenantKey, deviceGroupId } : null,
    rampPerSecond: whole('--ramp', optionalString(values['ramp']) ?? '100', 1, 100_000),
    upTimeoutSeconds: whole('--up-timeout', optionalString(values['up-timeout']) ?? '60', 1, 86_400),
    attest: values['no-attest'] !== true,
    crashRatePerHour: crashRate(values['crash-rate']),
    imageTrustFile: optionalString(values['image-trust']) ?? null,
    workers: whole('--workers', optionalString(values['workers']) ?? '1', 1, MAX_WORKERS),
  };
  return command;
}

function parseRun(args: string[]): Command {
  const { values } = parseFlags(args, {
    identity: { type: 'string' },
    broker: { type: 'string' },
    ca: { type: 'string' },
    'no-attest': { type: 'boolean' },
    'connect-with': { type: 'string' },
    'crash-rate': { type: 'string' },
    'image-trust': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values['help'] === true) return { kind: 'help' };
  const connectWith = optionalString(values['connect-with']) ?? 'identity';
  if (connectWith !== 'identity' && connectWith !== 'tenant-certificate') {
    throw new UsageError(`--connect-with: expected "identity" or "tenant-certificate", got "${connectWith}"`);
  }
  const brokerUrl = optionalString(values['broker']) ?? DEFAULT_BROKER_URL;
  requireUrl(brokerUrl, '--broker', ['mqtts:']);
  return {
    kind: 'run',
    identityPath: requireString(values['identity'], '--identity'),
    brokerUrl,
    caFile: optionalString(values['ca']) ?? null,
    attest: values['no-attest'] !== true,
    connectWith,
    crashRatePerHour: crashRate(values['crash-rate']),
    imageTrustFile: optionalString(values['image-trust']) ?? null,
  };
}

/** --crash-rate: a non-negative decimal number of crashes per device per hour, at most MAX_CRASH_RATE. */
function crashRate(value: string | boolean | undefined): number {
  if (value === undefined) return 0;
  const raw = typeof value === 'string' ? value.trim() : '';
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(raw) || Number(raw) > MAX_CRASH_RATE) {
    throw new UsageError(`--crash-rate must be a number of crashes per device per hour from 0 to ${MAX_CRASH_RATE}, got "${String(value)}"`);
  }
  return Number(raw);
}

type FlagSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>;

function parseFlags(args: string[], options: FlagSpec): { values: Record<string, string | boolean | undefined> } {
  try {
    const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals: true });
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    return { values: { ...values } };
  } catch (e) {
    if (e instanceof UsageError) throw e;
    // node:util's messages already name the flag ("Unknown option '--foo'", "Option '--count <value>' argument missing").
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}

function requireString(value: string | boolean | undefined, flag: string): string {
  const text = optionalString(value);
  if (text === undefined) throw new UsageError(`${flag} is required`);
  return text;
}

function optionalString(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

const nonEmpty = (value: string | undefined): string | undefined => (value && value.trim().length > 0 ? value.trim() : undefined);

function requireUrl(value: string, flag: string, protocols: readonly string[]): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${flag} must be a URL like ${protocols[0]}//host:port, got "${value}"`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new UsageError(`${flag} must use ${protocols.join(' or ')}, got "${value}"`);
  }
}
