/**
 * Composition root: the only code that imports every layer. Builds everything once and passes it down; no
 * module singletons. Start order: data dir -> PKI -> database (migrated) -> bus -> domain -> broker -> gateway.
 * Stop order is the reverse, database last (app/shutdown.ts).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from './config.js';
import { loadOrCreateAdminKey } from './admin-key.js';
import { createServices } from '../domain/create-services.js';
import type { Services } from '../domain/services.js';
import type { EventBus } from '../domain/events/event-bus.js';
import type { Logger } from '../domain/shared/logger.js';
import { systemClock, type Clock } from '../domain/shared/clock.js';
import { openDatabase } from '../infra/db/open-database.js';
import { MemoryEventBus } from '../infra/events/memory-event-bus.js';
import { loadOrCreatePki } from '../infra/pki/dev-pki.js';
import { startBroker, type Broker } from '../broker/index.js';
import { startGateway, type Gateway } from '../server/index.js';
import { shutdownInOrder } from './shutdown.js';
import { disconnectRevokedDevices, rotateTenantCasPeriodically } from './certificate-tasks.js';
import { purgeErrorReportsPeriodically } from './error-report-tasks.js';
import { driveRolloutsPeriodically, pushTargetsOnChange } from './update-tasks.js';
import { FileImageStorage } from '../infra/storage/file-image-storage.js';
import { startDownloadServer, type DownloadServer } from '../broker/download-server.js';

export interface Running {
  readonly config: Config;
  readonly gateway: Gateway;
  readonly broker: Broker;
  readonly downloads: DownloadServer;
  readonly services: Services;
  readonly bus: EventBus;
  readonly adminKey: string;
  readonly adminKeyFile: string | null;
  /** Shown once when generated on this start; never logged. */
  readonly adminKeyGenerated: boolean;
  readonly rootCaPem: string;
  readonly manufacturingCaPem: string;
  readonly rootCaFile: string;
  close(): Promise<void>;
}

export interface StartOptions {
  readonly log: Logger;
  readonly clock?: Clock;
}

export async function startSpheregate(config: Config, opts: StartOptions): Promise<Running> {
  const { log } = opts;
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });

  const serverCertificate =
    config.serverCertificateFile && config.serverKeyFile
      ? {
          certificatePem: await readFile(config.serverCertificateFile, 'utf8'),
          keyPem: await readFile(config.serverKeyFile, 'utf8'),
        }
      : null;
  const loaded = await loadOrCreatePki({
    dataDir: config.dataDir,
    hostnames: config.hostnames,
    serverCertificate,
    log: log.child({ component: 'pki' }),
    clock: opts.clock ?? systemClock,
  });
  const admin = await loadOrCreateAdminKey(config.dataDir, config.adminKey);

  const orm = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, log: log.child({ component: 'db' }) });
  const bus = new MemoryEventBus(log.child({ component: 'bus' }));
  const imageStorage = await FileImageStorage.open(join(config.dataDir, 'images'));
  const services = createServices({
    em: orm.em,
    bus,
    clock: opts.clock ?? systemClock,
    pki: loaded.pki,
    log: log.child({ component: 'domain' }),
    platformAdminKey: admin.key,
    certificates: config.certificates,
    errorReports: config.errorReports,
    imageStorage,
    maxImageBytes: config.updates.maxImageBytes,
  });
  const system = { kind: 'system' } as const;
  for (const version of config.certificates.knownOsReleases) await services.certificates.registerOsRelease(system, version);

  const stale = await services.presence.resetNode(config.nodeId);
  if (stale > 0) log.info({ devices: stale, nodeId: config.nodeId }, 'marked devices of the previous run offline');

  const closers: Array<{ name: string; close: () => Promise<void> }> = [];
  const closeAll = (): Promise<void> => shutdownInOrder(closers, log);
  try {
    const tls = {
      certificatePem: loaded.server.chainPem,
      keyPem: loaded.server.keyPem,
      // Identity certificates chain to the manufacturing CA; tenant-issued device certificates to the root.
      trustAnchorsPem: [loaded.manufacturingCaPem, loaded.rootCaPem],
    };
    const downloads = await startDownloadServer({
      tls,
      port: config.updates.downloadPort,
      host: config.bindAddress,
      presence: services.presence,
      deployments: services.deployments,
      storage: imageStorage,
      log,
    });
    closers.push({ name: 'downloads', close: () => downloads.close() });
    const broker = await startBroker({
      presence: services.presence,
      log: log.child({ component: 'broker' }),
      port: config.mqttPort,
      host: config.bindAddress,
      nodeId: config.nodeId,
      tls,
      attestation: services.attestation,
      errorReports: services.errorReports,
      updates: {
        deployments: services.deployments,
        downloadBaseUrl: config.updates.downloadBaseUrl ?? `https://localhost:${downloads.port}`,
        delayWindowSeconds: config.updates.delayWindowSeconds,
      },
    });
    closers.push({ name: 'broker', close: () => broker.close() });
    const stopRevocations = disconnectRevokedDevices(bus, broker, log);
    const stopRotation = rotateTenantCasPeriodically(services, log);
    const stopPurge = purgeErrorReportsPeriodically(services, config.nodeId, log);
    const stopPushes = pushTargetsOnChange(bus, broker, log);
    const stopRollouts = driveRolloutsPeriodically(services, config.nodeId, log, config.updates.rolloutIntervalMs);
    // Background work ends before the broker and database close.
    closers.unshift({
      name: 'background tasks',
      close: async () => {
        stopRevocations();
        stopPushes();
        await Promise.all([stopRotation(), stopPurge(), stopRollouts()]);
      },
    });
    const gateway = await startGateway({
      services,
      bus,
      log: log.child({ component: 'gateway' }),
      port: config.httpPort,
      host: config.bindAddress,
    });
    // Intake stops first (gateway, then broker: devices are disconnected and their presence recorded), then the
    // bus, and the database last so in-flight writes finish.
    closers.unshift({ name: 'gateway', close: () => gateway.close() });
    closers.push({ name: 'event bus', close: () => bus.close() });
    closers.push({ name: 'database', close: () => orm.close() });

    let closing: Promise<void> | null = null;
    return {
      config,
      gateway,
      broker,
      downloads,
      services,
      bus,
      adminKey: admin.key,
      adminKeyFile: admin.file,
      adminKeyGenerated: admin.generated,
      rootCaPem: loaded.rootCaPem,
      manufacturingCaPem: loaded.manufacturingCaPem,
      rootCaFile: join(config.dataDir, 'pki', 'root-ca.pem'),
      close: () => (closing ??= closeAll()),
    };
  } catch (e) {
    closers.push({ name: 'event bus', close: () => bus.close() });
    closers.push({ name: 'database', close: () => orm.close() });
    await closeAll();
    throw e;
  }
}
