#!/usr/bin/env node
/**
 * `device-agent`: manufacture device identities, or run emulated devices. See `device-agent --help`.
 */
import { realpathSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADMIN_KEY_ENV, DEFAULT_ADMIN_KEY_FILE, USAGE, UsageError, parseCommand, type Command, type FleetCommand } from './cli-args.js';
import { claimIntoGroup } from './claim.js';
import { Fleet, formatSummary } from './fleet.js';
import { WorkerFleet, type FleetControl } from './fleet-workers.js';
import { EmulatedDevice, type DeviceLog } from './emulated-device.js';
import { CERTIFICATE_FILE_SUFFIX, FileCertificateStore } from './certificate-store.js';
import { ERROR_QUEUE_FILE_SUFFIX, FileErrorQueueStore } from './error-queue.js';
import { loadIdentity, readIdentityFile, type IdentityFile } from './identity.js';
import { FileInstalledStore, INSTALLED_FILE_SUFFIX } from './updates/installed-store.js';
import { ManufactureError, manufacture } from './manufacture.js';

export interface CliIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Resolves when the user asks to stop (Ctrl-C, SIGTERM). */
  readonly stopRequested: Promise<void>;
}

/** Returns the exit code: 0 done, 1 failed, 2 bad usage. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  let command: Command;
  try {
    command = parseCommand(argv, io.env);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(`device-agent: ${e.message}`);
    io.err('Run "device-agent --help" for usage.');
    return 2;
  }
  try {
    switch (command.kind) {
      case 'help':
        io.out(USAGE);
        return 0;
      case 'manufacture':
        return await runManufacture(command, io);
      case 'run':
        return await runDevices(command, io);
      case 'fleet':
        return await runFleet(command, io);
    }
  } catch (e) {
    io.err(`device-agent: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

async function runManufacture(command: Extract<Command, { kind: 'manufacture' }>, io: CliIo): Promise<number> {
  const adminKey = command.adminKey ?? (await readAdminKeyFile());
  const trustAnchorsPem = await readPemFile(command.caFile, '--ca');
  try {
    const identities = await manufacture({
      serviceUrl: command.serviceUrl,
      adminKey,
      count: command.count,
      outDir: command.outDir,
      trustAnchorsPem,
      onProgress: (made, total) => io.err(`manufactured ${made}/${total}`),
    });
    io.out(`wrote ${identities.length} identity files to ${command.outDir}`);
    return 0;
  } catch (e) {
    if (!(e instanceof ManufactureError)) throw e;
    io.err(`device-agent: ${e.message}`);
    io.out(`wrote ${e.identities.length} identity files to ${command.outDir}`);
    return 1;
  }
}

async function runDevices(command: Extract<Command, { kind: 'run' }>, io: CliIo): Promise<number> {
  const caOverride = command.caFile === null ? null : await readPemFile(command.caFile, '--ca');
  const trustedSigningKeysPem = command.imageTrustFile === null ? null : await readPublicKeys(command.imageTrustFile);
  const identities = await readIdentities(command.identityPath);
  const log = lineLog(io);
  const devices: EmulatedDevice[] = [];
  for (const { path, identity } of identities) {
    const effective: IdentityFile = caOverride === null ? identity : { ...identity, trustAnchorsPem: caOverride };
    // Fails early, naming the file's fault, instead of as an opaque TLS error later.
    await loadIdentity(effective);
    devices.push(
      new EmulatedDevice({
        identity: effective,
        brokerUrl: command.brokerUrl,
        log,
        connectWith: command.connectWith,
        ...(command.attest ? { attestation: { store: FileCertificateStore.besideIdentity(path) } } : {}),
        errorReports: {
          store: FileErrorQueueStore.besideIdentity(path),
          ...(command.crashRatePerHour > 0 ? { crashInjection: { perHour: command.crashRatePerHour } } : {}),
        },
        ...(trustedSigningKeysPem ? { updates: { store: FileInstalledStore.besideIdentity(path), trustedSigningKeysPem } } : {}),
      }),
    );
  }
  io.err(
    `running ${devices.length} device(s) against ${command.brokerUrl}` +
      `${command.crashRatePerHour > 0 ? `, injecting ${command.crashRatePerHour} crash(es) per device per hour` : ''}` +
      `${trustedSigningKeysPem ? `, taking updates signed by ${trustedSigningKeysPem.length} trusted key(s)` : ''}; Ctrl-C to stop`,
  );
  for (const device of devices) device.start();
  await io.stopRequested;
  io.err('stopping…');
  await Promise.all(devices.map((d) => d.stop()));
  return 0;
}

/**
 * Manufactures N devices in memory, optionally claims them into a group, runs them all, prints a summary line
 * every second, and stops them cleanly when asked. Exit code 1 if they were not all online within the timeout.
 */
async function runFleet(command: FleetCommand, io: CliIo): Promise<number> {
  const adminKey = command.adminKey ?? (await readAdminKeyFile());
  const trustAnchorsPem = await readPemFile(command.caFile, '--ca');
  const trustedSigningKeysPem = command.imageTrustFile === null ? null : await readPublicKeys(command.imageTrustFile);
  const identities = await manufacture({
    serviceUrl: command.serviceUrl,
    adminKey,
    count: command.count,
    trustAnchorsPem,
    onProgress: (made, total) => io.err(`manufactured ${made}/${total}`),
  });
  if (command.claim) {
    await claimIntoGroup({ serviceUrl: command.serviceUrl, tenantKey: command.claim.tenantKey, deviceIds: identities.map((i) => i.deviceId), deviceGroupId: command.claim.deviceGroupId });
    io.err(`claimed ${identities.length} devices into group ${command.claim.deviceGroupId}`);
  }
  const options = {
    identities,
    brokerUrl: command.brokerUrl,
    rampPerSecond: command.rampPerSecond,
    attest: command.attest,
    crashRatePerHour: command.crashRatePerHour,
    ...(trustedSigningKeysPem ? { trustedSigningKeysPem } : {}),
  };
  const fleet: FleetControl = command.workers > 1 ? new WorkerFleet(options, command.workers) : new Fleet(options);
  if (command.workers > 1) io.err(`running the devices in ${Math.min(command.workers, identities.length)} worker processes`);
  void fleet.start();
  const ticker = setInterval(() => io.err(formatSummary(fleet.summary())), 1000);
  let upInTime = false;
  let stopped = false;
  const deadline = Date.now() + command.upTimeoutSeconds * 1000;
  const watch = (async () => {
    while (!stopped && Date.now() < deadline) {
      if (fleet.summary().online === identities.length) {
        upInTime = true;
        io.err(`all ${identities.length} devices online`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    if (!upInTime) io.err(`${stopped ? "stopped before all devices came up" : `not all devices came up within ${command.upTimeoutSeconds} s`}: ${formatSummary(fleet.summary())}`);
  })();
  await io.stopRequested;
  stopped = true;
  clearInterval(ticker);
  await watch;
  io.err('stopping…');
  await fleet.stop();
  io.out(formatSummary(fleet.summary()));
  return upInTime ? 0 : 1;
}

async function readIdentities(path: string): Promise<Array<{ path: string; identity: IdentityFile }>> {
  const info = await stat(path).catch(() => null);
  if (info === null) throw new Error(`--identity: ${path} does not exist`);
  if (!info.isDirectory()) return [{ path, identity: await readIdentityFile(path) }];
  // <id>.certificate.json, <id>.errors.json and <id>.installed.json files beside the identities are the devices'
  // certificate, error queue and installed-images stores, not identities.
  const stores = [CERTIFICATE_FILE_SUFFIX, ERROR_QUEUE_FILE_SUFFIX, INSTALLED_FILE_SUFFIX];
  const files = (await readdir(path))
    .filter((name) => name.endsWith('.json') && !stores.some((suffix) => name.endsWith(suffix)))
    .sort();
  if (files.length === 0) throw new Error(`--identity: no *.json identity files in ${path}`);
  return Promise.all(files.map(async (name) => ({ path: join(path, name), identity: await readIdentityFile(join(path, name)) })));
}

async function readAdminKeyFile(): Promise<string> {
  const key = (await readFile(DEFAULT_ADMIN_KEY_FILE, 'utf8').catch(() => '')).trim();
  if (key.length === 0) {
    throw new UsageError(`no admin key: pass --admin-key, set ${ADMIN_KEY_ENV}, or run where ${DEFAULT_ADMIN_KEY_FILE} exists`);
  }
  return key;
}

async function readPemFile(path: string, flag: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new Error(`${flag}: cannot read ${path}`);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`${flag}: ${path} holds no PEM certificate`);
  return text;
}

/** --image-trust: every PUBLIC KEY block of the file, each checked to be a readable public key. */
async function readPublicKeys(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new Error(`--image-trust: cannot read ${path}`);
  }
  const keys = text.match(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g) ?? [];
  if (keys.length === 0) throw new Error(`--image-trust: ${path} holds no PEM public key (-----BEGIN PUBLIC KEY-----)`);
  for (const [i, key] of keys.entries()) {
    try {
      createPublicKey(key);
    } catch {
      throw new Error(`--image-trust: public key ${i + 1} in ${path} is not readable`);
    }
  }
  return keys.map((key) => `${key}\n`);
}

/** One readable line per event: the time, the device (first 12 hex), the message and its fields. */
function lineLog(io: CliIo): DeviceLog {
  const line = (level: string) => (obj: object, msg?: string) => {
    const fields = Object.entries(obj)
      .filter(([key]) => key !== 'deviceId')
      .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
      .join(' ');
    const device = 'deviceId' in obj && typeof obj.deviceId === 'string' ? `${obj.deviceId.slice(0, 12)}… ` : '';
    io.err(`${new Date().toISOString()} ${level} ${device}${msg ?? ''} ${fields}`.trimEnd());
  };
  return { debug: () => undefined, info: line('INFO'), warn: line('WARN'), error: line('ERROR') };
}

/** SIGINT / SIGTERM resolve the promise once; a second signal exits at once. */
function stopSignal(): Promise<void> {
  return new Promise((resolve) => {
    let requested = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (requested) process.exit(signal === 'SIGINT' ? 130 : 143);
      requested = true;
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    // Through npm's bin symlink, argv[1] is the link; compare real paths.
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const code = await main(process.argv.slice(2), {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    env: process.env,
    stopRequested: stopSignal(),
  });
  process.exit(code);
}
