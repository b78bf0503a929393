/**
 * The brokers a benchmark compares, each behind one small interface: Spheregate (the whole service), a bare Aedes
 * broker on node TLS with only a topic-ACL hook (the library we build on), and Mosquitto (the Debian package: the
 * best broker in C). All use the same PKI files, so the same device certificates connect to each.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { Aedes } from 'aedes';
import { loadConfig } from '../app/config.js';
import { startSpheregate } from '../app/start.js';
import { createLogger } from '../infra/log.js';
import { startFronts, type Fronts, type StatusEventPayload } from './fronts.js';
import { startVitals, type Vitals, type VitalsMonitor } from './vitals.js';

export type TargetName = 'spheregate' | 'bare-aedes' | 'mosquitto';
export const TARGETS: readonly TargetName[] = ['spheregate', 'bare-aedes', 'mosquitto'];

export interface ProcessUsage {
  /** User + system CPU time of the broker's process so far. */
  readonly cpuMs: number;
  readonly rssBytes: number;
}

export interface BrokerTarget {
  readonly name: TargetName;
  readonly mqttPort: number;
  /** The broker process's own usage (for in-process targets: this process). */
  usage(): Promise<ProcessUsage>;
  close(): Promise<void>;
}

/** TLS handshakes a node broker finished since it started, and how many resumed a session (isSessionReused). */
export interface HandshakeCounts {
  readonly handshakes: number;
  readonly resumed: number;
}

/** A node broker that counts its TLS handshakes (the reconnect storm reads them). */
export interface HandshakeCountingTarget extends BrokerTarget {
  tlsHandshakes(): Promise<HandshakeCounts>;
}

/** The PKI files of a Spheregate data dir, which the baselines borrow. */
export interface PkiFiles {
  readonly manufacturingCa: string;
  readonly serverCertificate: string;
  readonly serverKey: string;
}

export const pkiFilesOf = (dataDir: string): PkiFiles => ({
  manufacturingCa: join(dataDir, 'pki', 'manufacturing-ca.pem'),
  serverCertificate: join(dataDir, 'pki', 'server.pem'),
  serverKey: join(dataDir, 'pki', 'server.key.pem'),
});

/**
 * This process's usage. CPU is read first; then, when node runs with --expose-gc (npm run bench does), a full
 * collection runs before RSS is read, so the memory delta is live memory, not garbage of an earlier target.
 */
export const selfUsage = async (): Promise<ProcessUsage> => {
  const cpu = process.cpuUsage();
  const gc: unknown = Reflect.get(globalThis, 'gc');
  if (typeof gc === 'function') gc();
  return { cpuMs: (cpu.user + cpu.system) / 1000, rssBytes: process.memoryUsage().rss };
};

export interface SpheregateOptions {
  /** Extra configuration variables (app/config.ts), e.g. DATABASE_URL or SPHEREGATE_ERROR_RATE_LIMIT. */
  readonly env?: Readonly<Record<string, string>>;
  /** Also serve the GraphQL scenario's baselines (bench/fronts.ts) from the same process. */
  readonly fronts?: boolean;
}

/** The baselines of bench/fronts.ts as a caller in another process sees them. */
export interface FrontsHandle {
  readonly graphqlHttpUrl: string;
  readonly plainUrl: string;
  readonly floorWsUrl: string;
  broadcast(event: Omit<StatusEventPayload, 'at'>): Promise<number>;
}

export interface RunningSpheregate extends HandshakeCountingTarget {
  readonly graphqlUrl: string;
  readonly adminKey: string;
  readonly rootCaPem: string;
  /** Present when started with `fronts: true`. */
  readonly fronts: FrontsHandle | null;
  /**
   * The process's RSS, heap, CPU and event-loop delay since the previous call (bench/vitals.ts). The delay is
   * monitored from the first call on, so scenarios that never ask pay nothing for it.
   */
  vitals(): Promise<Vitals>;
}

/** The whole service (gateway + broker; SQLite in the data dir unless DATABASE_URL is given), in this process. */
export async function startSpheregateTarget(dataDir: string, opts: SpheregateOptions = {}): Promise<RunningSpheregate> {
  const config = loadConfig({
    SPHEREGATE_DATA_DIR: dataDir,
    SPHEREGATE_HTTP_PORT: '0',
    SPHEREGATE_MQTT_PORT: '0',
    SPHEREGATE_DOWNLOAD_PORT: '0',
    SPHEREGATE_BIND_ADDRESS: '127.0.0.1',
    SPHEREGATE_NODE_ID: 'bench',
    ...opts.env,
  });
  const log = createLogger({ level: 'silent' });
  const running = await startSpheregate(config, { log });
  const fronts: Fronts | null = opts.fronts
    ? await startFronts({ services: running.services, bus: running.bus, schema: running.gateway.schema, log }).catch(async (e: unknown) => {
        await running.close();
        throw e;
      })
    : null;
  let monitor: VitalsMonitor | null = null;
  return {
    name: 'spheregate',
    mqttPort: running.broker.port,
    graphqlUrl: `http://127.0.0.1:${running.gateway.port}/graphql`,
    adminKey: running.adminKey,
    rootCaPem: running.rootCaPem,
    fronts: fronts && { graphqlHttpUrl: fronts.graphqlHttpUrl, plainUrl: fronts.plainUrl, floorWsUrl: fronts.floorWsUrl, broadcast: async (event) => fronts.broadcast(event) },
    usage: selfUsage,
    tlsHandshakes: async () => running.broker.tlsHandshakes(),
    vitals: async () => (monitor ??= startVitals()).sample(),
    close: async () => {
      monitor?.stop();
      await fronts?.close();
      await running.close();
    },
  };
}

export interface BareAedesTarget extends HandshakeCountingTarget {
  /** Client publishes the broker has finished processing (its `publish` event), so far. */
  receivedPublishes(): Promise<number>;
}

/** Aedes 1.x on node TLS, mutual TLS against the manufacturing CA, and a publish ACL: what we build on, bare. */
export async function startBareAedesTarget(pki: PkiFiles): Promise<BareAedesTarget> {
  const aedes = await Aedes.createBroker();
  // Counts what the broker took in, so the error-ingest scenario can tell acknowledged from received (lost).
  let received = 0;
  let handshakes = 0;
  let resumed = 0;
  aedes.on('publish', (_packet, client) => {
    if (client) received++;
  });
  aedes.authorizePublish = (client, packet, callback) =>
    callback(client && packet.topic.startsWith(`devices/${client.id}/`) ? null : new Error('not your topic'));
  const server = createTlsServer(
    {
      key: await readFile(pki.serverKey, 'utf8'),
      cert: await readFile(pki.serverCertificate, 'utf8'),
      ca: await readFile(pki.manufacturingCa, 'utf8'),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (socket) => {
      handshakes++;
      if (socket.isSessionReused()) resumed++;
      aedes.handle(socket);
    },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return {
    name: 'bare-aedes',
    mqttPort: address.port,
    usage: selfUsage,
    receivedPublishes: async () => received,
    tlsHandshakes: async () => ({ handshakes, resumed }),
    close: async () => {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Mosquitto in its own process on its own port: require_certificate, use_identity_as_username, no persistence. */
export async function startMosquittoTarget(pki: PkiFiles, workDir: string): Promise<BrokerTarget> {
  const port = await freePort();
  const conf = join(workDir, `mosquitto-${port}.conf`);
  await writeFile(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      // Started as root it would drop to the mosquitto user, which may not read the 0700 PKI folder; when not
      // root, this line is ignored.
      'user root',
      `cafile ${pki.manufacturingCa}`,
      `certfile ${pki.serverCertificate}`,
      `keyfile ${pki.serverKey}`,
      'require_certificate true',
      'use_identity_as_username true',
      'persistence false',
      // Its default in-flight window drops QoS 1 messages under load; the baseline must lose nothing.
      'max_inflight_messages 0',
      'log_type error',
      'log_dest stderr',
      '',
    ].join('\n'),
  );
  const child = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  await waitForPort(port, child, () => stderr);
  return {
    name: 'mosquitto',
    mqttPort: port,
    usage: () => procUsage(child),
    close: async () => {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

/** CPU and RSS of another process from /proc (clock ticks are 1/100 s on Linux). */
async function procUsage(child: ChildProcess): Promise<ProcessUsage> {
  const [stat, status] = await Promise.all([readFile(`/proc/${child.pid}/stat`, 'utf8'), readFile(`/proc/${child.pid}/status`, 'utf8')]);
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { cpuMs: ticks * 10, rssBytes: rssKb * 1024 };
}

async function freePort(): Promise<number> {
  const server = createNetServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no address');
  return address.port;
}

async function waitForPort(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited: ${stderr()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = createNetServer().listen(port, '127.0.0.1');
      socket.once('listening', () => socket.close(() => resolve(false)));
      socket.once('error', () => resolve(true));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${port}: ${stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
