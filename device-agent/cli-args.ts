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

export const USAGE = `Usage: device-agent <command> [options]

Commands:
  manufacture   Make device identities: each device creates its own P-256 key and CSR, the service signs them.
  run           Run emulated devices over MQTT with mutual TLS until Ctrl-C / SIGTERM.

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
  | {
      readonly kind: 'run';
      readonly identityPath: string;
      readonly brokerUrl: string;
      readonly caFile: string | null;
      readonly attest: boolean;
      readonly connectWith: 'identity' | 'tenant-certificate';
    };

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function parseCommand(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): Command {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') return { kind: 'help' };
  if (name === 'manufacture') return parseManufacture(rest, env);
  if (name === 'run') return parseRun(rest);
  throw new UsageError(`unknown command "${name}" (expected "manufacture" or "run")`);
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

function parseRun(args: string[]): Command {
  const { values } = parseFlags(args, {
    identity: { type: 'string' },
    broker: { type: 'string' },
    ca: { type: 'string' },
    'no-attest': { type: 'boolean' },
    'connect-with': { type: 'string' },
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
  };
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
