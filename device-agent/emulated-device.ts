/**
 * One emulated device over MQTT 3.1.1 and mutual TLS, as an explicit state machine:
 *
 *   idle ──start()──▶ connecting ──CONNACK, subscribed, status acked──▶ online
 *                        ▲   │ closed / refused                            │ connection lost
 *                        │   ▼                                             ▼
 *                        └── backoff ◀─────────────────────────────────────┘
 *   any state ──stop()──▶ stopped (──start()──▶ connecting)
 *   online ──reboot (OS installed, or a crash mid-install)──▶ stopped ──▶ connecting (uptime starts over)
 *
 * mqtt.js's own reconnect is off: the device reconnects itself with a replaceable backoff policy (full jitter by
 * default), reset after each successful connection, so a fleet does not reconnect in lock step after an outage.
 * Over-the-air updates (down/update) run beside this machine in updates/updater.ts; they need it online to report.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { decode, encode } from '../contract/mqtt/codec.js';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import {
  DEFAULT_KEEPALIVE_SECONDS,
  ErrorEvent,
  MAX_ERROR_EVENTS_PER_BATCH,
  MAX_ERROR_REPORTS_BYTES,
  type AttestationResult,
  type Challenge,
  type ErrorReply,
  type StatusReport,
  type UpdateTarget,
} from '../contract/mqtt/messages.js';
import { downFilter, parseTopic, upTopic } from '../contract/mqtt/topics.js';
import { prepareAttestation } from './attestation.js';
import { toBackoffPolicy, type BackoffPolicy, type FullJitterOptions } from './backoff.js';
import type { CertificateStore, StoredCertificate } from './certificate-store.js';
import { CrashInjector } from './crash-injector.js';
import { ErrorQueue, type ErrorQueueStore } from './error-queue.js';
import { loadIdentity, parseIdentityFile, tlsIdentity, type IdentityFile, type LoadedIdentity } from './identity.js';
import { renewalDelayMs, renewalOverdue } from './renewal-schedule.js';
import type { InstalledState } from './updates/installed-store.js';
import { Updater, type ImageStateReport, type RebootReason, type UpdateOptions } from './updates/updater.js';

export const DEVICE_STATES = ['idle', 'connecting', 'online', 'backoff', 'stopped'] as const;
export type DeviceStateName = (typeof DEVICE_STATES)[number];

/** pino-compatible subset; the domain's Logger fits. */
export interface DeviceLog {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const silentLog: DeviceLog = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

export type InstalledImage = StatusReport['installedImages'][number];
export type QoS = 0 | 1 | 2;
/** SUBACK return code for a refused subscription (MQTT 3.1.1 §3.9.3). */
export const SUBSCRIPTION_REFUSED = 128;

export interface EmulatedDeviceOptions {
  readonly identity: IdentityFile;
  /** mqtts://host:port */
  readonly brokerUrl: string;
  /** @default '24.10' */
  readonly osVersion?: string;
  /** @default [] */
  readonly installedImages?: readonly InstalledImage[];
  /** A policy, or options for full-jitter backoff. @default { baseMs: 1000, capMs: 60000 } */
  readonly backoff?: BackoffPolicy | FullJitterOptions;
  /** @default 60 (contract DEFAULT_KEEPALIVE_SECONDS) */
  readonly keepaliveSeconds?: number;
  /** Give up on a connection attempt (TCP + TLS + CONNACK) after this long. @default 10000 */
  readonly connectTimeoutMs?: number;
  readonly log?: DeviceLog;
  /**
   * Remote attestation and certificate renewal. With it the device attests once online when it holds no
   * certificate (or one past its renewal point), then renews at a random point between 60 % and 80 % of each
   * certificate's lifetime; refusals and timeouts are retried with backoff.
   */
  readonly attestation?: AttestationOptions;
  /**
   * Which certificate to present to the broker: the identity certificate (default), or the tenant-issued device
   * certificate once the device holds a valid one (it then sends that certificate's chain too).
   */
  readonly connectWith?: 'identity' | 'tenant-certificate';
  /**
   * Error reporting (PROTOCOL.md, "Error reports"): events recorded with recordEvent() are kept in this store until
   * the broker acknowledged the batch that carried them, and sent at once when online and after every connect.
   */
  readonly errorReports?: ErrorReportsOptions;
  /**
   * Over-the-air updates (updates/updater.ts): the device installs the images of the target the service sends on
   * down/update, reporting each step on up/update-status, and reports what its store says it runs.
   */
  readonly updates?: UpdateOptions;
}

export interface ErrorReportsOptions {
  readonly store: ErrorQueueStore;
  /** Most events kept; beyond it the oldest are dropped (and counted in droppedTotal). @default 1000 */
  readonly capacity?: number;
  /** Most events per error-reports message (at most MAX_ERROR_EVENTS_PER_BATCH). @default 50 */
  readonly batchSize?: number;
  /** Crash injection for demos and tests. */
  readonly crashInjection?: { readonly perHour: number; readonly random?: () => number };
}

/** What recordEvent() takes: the event without its ID; times default to now, count to 1. */
export interface RecordEventInput {
  readonly category: ErrorEvent['category'];
  readonly componentId?: string;
  readonly imageId?: string;
  readonly exitCode?: number;
  readonly signal?: number;
  readonly description?: string;
  readonly count?: number;
  /** @default endTime when given, else now */
  readonly startTime?: string;
  /** @default now */
  readonly endTime?: string;
}

export interface AttestationOptions {
  readonly store: CertificateStore;
  /** @default true */
  readonly enabled?: boolean;
  /** Uniform in [0, 1): spreads renewals. @default Math.random */
  readonly random?: () => number;
  /** How long to wait for each reply of the service. @default 10000 */
  readonly replyTimeoutMs?: number;
  /**
   * Waits between failed attempts (full jitter). The cap is a minute so a device refused as unclaimed gets its
   * certificate soon after a claim. @default { baseMs: 1000, capMs: 60000 }
   */
  readonly retry?: BackoffPolicy | FullJitterOptions;
}

export interface CertificateInfo {
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The device held an unexpired certificate before this one. */
  readonly renewal: boolean;
}

export type RenewalOutcome =
  | ({ readonly ok: true } & CertificateInfo)
  | { readonly ok: false; readonly reason: string; readonly message: string };

export interface StateChange {
  readonly state: DeviceStateName;
  readonly previous: DeviceStateName;
  /** Backoff attempt: 0 after a successful connection, growing while connections keep failing. */
  readonly attempt: number;
  /** Only when entering backoff: how long until the next attempt. */
  readonly delayMs?: number;
  /** Only when entering backoff: why the last connection ended, when known. */
  readonly reason?: string;
}

export interface EmulatedDeviceEvents {
  online: [];
  offline: [];
  'error-reply': [ErrorReply];
  /** Any message on the device's down topics, raw. */
  message: [topic: string, payload: Buffer];
  state: [StateChange];
  /** The next attestation is planned for `at` (after a certificate arrives, on connect, or after a failure). */
  'renewal-planned': [{ readonly at: Date }];
  /** An attestation starts (renewal: the device holds an unexpired certificate). */
  attesting: [{ readonly renewal: boolean }];
  /** A certificate from the tenant CA was received and stored. */
  certificate: [CertificateInfo];
  /** An attestation or renewal did not give a certificate (refused by the service, or no answer in time). */
  'certificate-refused': [{ readonly reason: string; readonly message: string; readonly renewal: boolean }];
  /** The broker acknowledged an error-reports batch of `count` events (they left the queue). */
  'error-reports-sent': [{ readonly count: number }];
  /** A TLS connection to the broker is up; `resumed` when it resumed an earlier session (no full handshake). */
  tls: [{ readonly resumed: boolean }];
  /** Recording an event dropped the oldest `dropped` events of a full queue. */
  'error-events-dropped': [{ readonly dropped: number; readonly droppedTotal: number }];
  /** A target arrived on down/update (emitted whether or not updates are configured). */
  'update-target': [UpdateTarget];
  /** An update-status report the broker acknowledged. */
  'image-state': [ImageStateReport];
  /** An interrupted image download goes on from `offset` (a Range request). */
  'download-resumed': [{ readonly imageId: string; readonly offset: number }];
  /** An application image was installed and the application restarted. */
  'application-restarted': [{ readonly componentId: string; readonly imageId: string }];
  /** The device restarts: its connection ends and it connects again (uptime starts over). */
  rebooting: [{ readonly reason: RebootReason }];
}

interface PendingReply {
  readonly expects: 'challenge' | 'attestation-result';
  resolve(reply: Challenge | AttestationResult): void;
  reject(e: Error): void;
}

type State =
  | { readonly name: 'idle' }
  /** `attempt`: the backoff attempt to wait for if this connection fails. */
  | { readonly name: 'connecting'; readonly attempt: number; readonly client: MqttClient }
  | { readonly name: 'online'; readonly client: MqttClient; readonly since: Date }
  | { readonly name: 'backoff'; readonly attempt: number; readonly timer: NodeJS.Timeout }
  | { readonly name: 'stopped' };

/** How long stop() waits for a graceful DISCONNECT before dropping the socket. */
const GRACEFUL_END_MS = 2_000;
const DEFAULT_ERROR_QUEUE_CAPACITY = 1000;
const DEFAULT_ERROR_BATCH_SIZE = 50;
const errorEventCheck = TypeCompiler.Compile(ErrorEvent);

export class EmulatedDevice extends EventEmitter<EmulatedDeviceEvents> {
  readonly deviceId: string;
  private current: State = { name: 'idle' };
  private readonly identity: IdentityFile;
  private readonly backoff: BackoffPolicy;
  private readonly log: DeviceLog;
  private bootedAt: number | null = null;
  /** Why the connection in progress ended, as told by mqtt.js's 'error' before its 'close'. */
  private lastError: string | undefined;
  private loadedIdentity: Promise<LoadedIdentity> | null = null;
  /** The tenant certificate held, as last loaded from or saved to the store. */
  private heldCertificate: StoredCertificate | null = null;
  private readonly pending = new Map<string, PendingReply>();
  private renewalTimer: NodeJS.Timeout | null = null;
  private renewalAttempt = 0;
  private renewing: Promise<RenewalOutcome> | null = null;
  private readonly retry: BackoffPolicy;
  private readonly errorQueue: ErrorQueue | null;
  private readonly errorBatchSize: number;
  private readonly crashInjector: CrashInjector | null;
  /** The newest TLS session ticket the broker gave, and the client certificate it belongs to. */
  private tlsSession: { readonly cert: string; readonly ticket: Buffer } | null = null;
  /** The flush in progress; cleared (before its waiters resume) once it settles. */
  private flushing: Promise<number> | null = null;
  private readonly updater: Updater | null;
  /** Counts stop() calls, so a reboot in progress does not start a device that was stopped meanwhile. */
  private stops = 0;

  constructor(private readonly options: EmulatedDeviceOptions) {
    super();
    this.identity = parseIdentityFile(options.identity);
    this.deviceId = this.identity.deviceId;
    this.backoff = toBackoffPolicy(options.backoff);
    this.retry = toBackoffPolicy(options.attestation?.retry ?? { baseMs: 1000, capMs: 60_000 });
    this.log = options.log ?? silentLog;
    const url = new URL(options.brokerUrl);
    if (url.protocol !== 'mqtts:') throw new TypeError(`brokerUrl must be mqtts://host:port (mutual TLS), got ${url.protocol}//`);
    const reports = options.errorReports;
    this.errorQueue = reports ? new ErrorQueue(reports.store, reports.capacity ?? DEFAULT_ERROR_QUEUE_CAPACITY) : null;
    const batchSize = reports?.batchSize ?? DEFAULT_ERROR_BATCH_SIZE;
    if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > MAX_ERROR_EVENTS_PER_BATCH) {
      throw new RangeError(`errorReports.batchSize must be a whole number from 1 to ${MAX_ERROR_EVENTS_PER_BATCH}, got ${batchSize}`);
    }
    this.errorBatchSize = batchSize;
    const crashes = reports?.crashInjection;
    this.crashInjector =
      crashes && crashes.perHour > 0
        ? new CrashInjector(
            { installedImages: () => this.updater?.installedImagesNow() ?? this.options.installedImages ?? [], record: (crash) => this.recordEvent(crash) },
            {
              perHour: crashes.perHour,
              ...(crashes.random ? { random: crashes.random } : {}),
              onError: (e) => this.log.warn({ deviceId: this.deviceId, error: e instanceof Error ? e.message : String(e) }, 'could not record an injected crash'),
            },
          )
        : null;
    this.updater = options.updates ? this.createUpdater(options.updates) : null;
  }

  get state(): DeviceStateName {
    return this.current.name;
  }

  /** Starts connecting; returns at once. Progress is told by the 'state', 'online' and 'offline' events. */
  start(): void {
    if (this.current.name !== 'idle' && this.current.name !== 'stopped') throw new Error(`cannot start: device is ${this.current.name}`);
    this.bootedAt ??= Date.now();
    this.connect(0);
    this.crashInjector?.start();
  }

  /** Disconnects (DISCONNECT first, so the broker sends no will), cancels any retry or update, and resolves once closed. */
  async stop(): Promise<void> {
    this.stops++;
    await this.shutdown();
  }

  private async shutdown(): Promise<void> {
    this.cancelRenewal();
    this.updater?.cancel();
    this.crashInjector?.stop();
    const previous = this.current;
    if (previous.name === 'stopped' || previous.name === 'idle') {
      this.transition({ name: 'stopped' }, 0);
      return;
    }
    this.transition({ name: 'stopped' }, 0);
    if (previous.name === 'backoff') clearTimeout(previous.timer);
    if (previous.name === 'connecting' || previous.name === 'online') await endClient(previous.client);
    if (previous.name === 'online') this.emit('offline');
  }

  /** Publishes the status report again (it is also sent on every connect); images that failed to update may be retried. */
  async reportStatus(): Promise<void> {
    const client = this.onlineClient();
    this.updater?.forgetFailures();
    await this.sendStatus(client);
  }

  /** What the device runs now (from the store when updates are configured, else from the options). */
  installed(): Promise<InstalledState> {
    return this.updater ? this.updater.installed() : Promise.resolve(this.factoryState());
  }

  /** The tenant certificate the device holds (null before its first successful attestation). */
  async certificate(): Promise<StoredCertificate | null> {
    this.heldCertificate ??= (await this.options.attestation?.store.load()) ?? null;
    return this.heldCertificate;
  }

  /**
   * Attests now over the current connection: challenge-request -> challenge -> attestation -> attestation-result.
   * Stores the certificate and plans the next renewal on success; emits 'certificate' or 'certificate-refused'.
   */
  renewCertificate(): Promise<RenewalOutcome> {
    this.renewing ??= this.attest().finally(() => {
      this.renewing = null;
    });
    return this.renewing;
  }

  /**
   * Records an event (eventId = randomUUID(), startTime = endTime = now as toISOString(), count 1 unless given),
   * persists it, and sends it at once when online (the promise resolves after it is queued, not after it is sent).
   * Throws when error reporting is not configured or the event breaks the ErrorEvent schema.
   */
  async recordEvent(e: RecordEventInput): Promise<ErrorEvent> {
    const queue = this.errorQueue;
    if (!queue) throw new Error('error reporting is not configured for this device (errorReports option)');
    const now = new Date().toISOString();
    const event: ErrorEvent = {
      eventId: randomUUID(),
      category: e.category,
      ...(e.componentId !== undefined ? { componentId: e.componentId } : {}),
      ...(e.imageId !== undefined ? { imageId: e.imageId } : {}),
      ...(e.exitCode !== undefined ? { exitCode: e.exitCode } : {}),
      ...(e.signal !== undefined ? { signal: e.signal } : {}),
      ...(e.description !== undefined ? { description: e.description } : {}),
      count: e.count ?? 1,
      startTime: e.startTime ?? e.endTime ?? now,
      endTime: e.endTime ?? now,
    };
    if (!errorEventCheck.Check(event)) {
      const first = errorEventCheck.Errors(event).First();
      throw new TypeError(`not a valid error event: ${first ? `${first.path}: ${first.message}` : 'breaks the ErrorEvent schema'}`);
    }
    const { dropped } = await queue.push(event);
    this.log.info({ deviceId: this.deviceId, eventId: event.eventId, category: event.category }, 'error event recorded');
    if (dropped > 0) {
      this.log.warn({ deviceId: this.deviceId, dropped, droppedTotal: queue.droppedTotal }, 'error queue full; dropped the oldest events');
      this.emit('error-events-dropped', { dropped, droppedTotal: queue.droppedTotal });
    }
    if (this.current.name === 'online') this.flushInBackground();
    return event;
  }

  /**
   * Sends everything queued, in batches of batchSize (also cut so the JSON payload stays under
   * MAX_ERROR_REPORTS_BYTES), QoS 1; an event leaves the queue only after its batch's PUBACK. Resolves with how many
   * events were acknowledged. Only one flush runs at a time (a call during a flush waits for it and then flushes
   * again if more is queued; it counts the events of both). Not online: resolves 0. A lost connection ends the
   * flush (resolving with what was acknowledged so far) and keeps the rest queued; they are resent after reconnecting.
   */
  async flushErrorReports(): Promise<number> {
    const queue = this.errorQueue;
    if (!queue) return 0;
    await queue.load();
    let acknowledged = 0;
    while (this.flushing) acknowledged += await this.flushing.catch(() => 0);
    if (this.current.name !== 'online' || queue.size === 0) return acknowledged;
    this.flushing = this.sendQueued(queue).finally(() => {
      this.flushing = null;
    });
    return acknowledged + (await this.flushing);
  }

  /** The queue as it is now (events oldest first). Empty when error reporting is not configured. */
  async pendingErrorReports(): Promise<{ events: readonly ErrorEvent[]; droppedTotal: number }> {
    const queue = this.errorQueue;
    if (!queue) return { events: [], droppedTotal: 0 };
    await queue.load();
    return { events: queue.peek(queue.size), droppedTotal: queue.droppedTotal };
  }

  /** For tests that need a device to misbehave: any topic, any bytes. Resolves when the broker acknowledges (QoS > 0). */
  async publishRaw(topic: string, payload: string | Uint8Array, qos: QoS): Promise<void> {
    const client = this.onlineClient();
    await client.publishAsync(topic, typeof payload === 'string' ? payload : Buffer.from(payload), { qos });
  }

  /** For tests that need a device to misbehave: any filter. Returns the SUBACK return codes (128 = refused). */
  subscribeRaw(filter: string, qos: QoS = 1): Promise<number[]> {
    return subscribeForCodes(this.onlineClient(), filter, qos);
  }

  private connect(attempt: number): void {
    const options: IClientOptions = {
      // Aedes speaks MQTT 3.1/3.1.1 only.
      protocolVersion: 4,
      clientId: this.deviceId,
      clean: true,
      keepalive: this.options.keepaliveSeconds ?? DEFAULT_KEEPALIVE_SECONDS,
      // The device owns reconnection (backoff with jitter); mqtt.js would retry at a fixed period.
      reconnectPeriod: 0,
      connectTimeout: this.options.connectTimeoutMs ?? 10_000,
      // Every connect subscribes afresh (clean session), so mqtt.js need not replay subscriptions.
      resubscribe: false,
      ...this.tlsClient(),
      rejectUnauthorized: true,
    };
    // TLS session resumption: a reconnect offers the last session's ticket, so the broker skips the full
    // (ECDSA) handshake. Only for the same client certificate: a device that moved to its tenant certificate
    // starts afresh, so the broker never sees it under the old one.
    const resumable = this.tlsSession !== null && this.tlsSession.cert === options.cert ? this.tlsSession.ticket : undefined;
    this.lastError = undefined;
    const client = connect(this.options.brokerUrl, { ...options, ...(resumable ? { session: resumable } : {}) });
    const certificate = options.cert;
    client.stream.on('session', (ticket: Buffer) => {
      if (typeof certificate === 'string') this.tlsSession = { cert: certificate, ticket };
    });
    client.stream.once('secureConnect', () => {
      const socket: unknown = client.stream;
      const reused = typeof socket === 'object' && socket !== null && 'isSessionReused' in socket && typeof socket.isSessionReused === 'function' ? Boolean(socket.isSessionReused()) : false;
      this.emit('tls', { resumed: reused });
    });
    client.on('connect', () => void this.onConnected(client));
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    client.on('error', (error) => {
      this.lastError = error.message;
      this.log.debug({ deviceId: this.deviceId, error: error.message }, 'connection error');
    });
    client.on('close', () => this.onClosed(client));
    this.transition({ name: 'connecting', attempt, client }, attempt);
  }

  private async onConnected(client: MqttClient): Promise<void> {
    try {
      const [granted] = await subscribeForCodes(client, downFilter(this.deviceId), 1);
      if (granted === undefined || granted === SUBSCRIPTION_REFUSED) throw new Error('the broker refused the down-topic subscription');
      this.updater?.forgetFailures();
      await this.sendStatus(client);
    } catch (e) {
      if (!this.isCurrent(client)) return;
      this.lastError = e instanceof Error ? e.message : String(e);
      this.log.warn({ deviceId: this.deviceId, error: this.lastError }, 'could not set up the session; reconnecting');
      client.end(true);
      return;
    }
    if (this.current.name !== 'connecting' || this.current.client !== client) return;
    this.transition({ name: 'online', client, since: new Date() }, 0);
    this.emit('online');
    this.updater?.onOnline();
    if (this.options.attestation && this.options.attestation.enabled !== false) void this.planRenewal();
    // Whatever was recorded while offline, or not acknowledged before the last connection ended.
    if (this.errorQueue) this.flushInBackground();
  }

  private flushInBackground(): void {
    this.flushErrorReports().catch((e: unknown) =>
      this.log.error({ deviceId: this.deviceId, error: e instanceof Error ? e.message : String(e) }, 'could not send error reports'),
    );
  }

  /** One batch after another until the queue is empty, the device is not online, or a publish fails. */
  private async sendQueued(queue: ErrorQueue): Promise<number> {
    let acknowledged = 0;
    for (;;) {
      if (this.current.name !== 'online') return acknowledged;
      const client = this.current.client;
      const droppedTotal = Math.min(queue.droppedTotal, 2_147_483_647);
      const events = batchWithin(queue.peek(this.errorBatchSize), droppedTotal);
      if (events.length === 0) return acknowledged;
      try {
        await client.publishAsync(upTopic(this.deviceId, 'error-reports'), encode('error-reports', { v: 1, events: [...events], droppedTotal }), { qos: 1 });
      } catch (e) {
        this.log.warn(
          { deviceId: this.deviceId, events: events.length, error: e instanceof Error ? e.message : String(e) },
          'error reports not acknowledged; kept for after reconnecting',
        );
        return acknowledged;
      }
      // Acknowledged: stored by the service, or refused for good (BAD_PAYLOAD follows on down/error). Either way, done.
      await queue.remove(events.map((e) => e.eventId));
      acknowledged += events.length;
      this.log.info({ deviceId: this.deviceId, events: events.length, droppedTotal }, 'error reports sent');
      this.emit('error-reports-sent', { count: events.length });
    }
  }

  /** Key, certificate (chain) and trust anchors of the device's TLS connections: MQTT and image downloads alike. */
  private tlsClient(): { key: string; cert: string; ca: string } {
    const tls = tlsIdentity(this.identity);
    return { ...this.clientCertificate(tls), ca: tls.ca };
  }

  /** The identity certificate, or the tenant certificate and its chain when asked for and valid. */
  private clientCertificate(identity: { key: string; cert: string }): { key: string; cert: string } {
    const held = this.heldCertificate;
    if (this.options.connectWith === 'tenant-certificate' && held && Date.parse(held.notAfter) > Date.now()) {
      return { key: held.keyPem, cert: `${held.certificatePem.trimEnd()}\n${held.chainPem}` };
    }
    return identity;
  }

  private async planRenewal(attemptDelayMs?: number): Promise<void> {
    this.cancelRenewal();
    const held = await this.certificate();
    const validity = held ? { notBefore: new Date(held.notBefore), notAfter: new Date(held.notAfter) } : null;
    const delayMs =
      attemptDelayMs ?? (renewalOverdue(validity, new Date()) ? 0 : renewalDelayMs(validity, new Date(), this.options.attestation?.random));
    if (this.current.name !== 'online') return;
    this.renewalTimer = setTimeout(() => {
      this.renewalTimer = null;
      void this.renewCertificate();
    }, delayMs);
    this.renewalTimer.unref();
    this.log.debug({ deviceId: this.deviceId, inMs: delayMs }, 'certificate renewal planned');
    this.emit('renewal-planned', { at: new Date(Date.now() + delayMs) });
  }

  private cancelRenewal(): void {
    if (this.renewalTimer) clearTimeout(this.renewalTimer);
    this.renewalTimer = null;
  }

  private async attest(): Promise<RenewalOutcome> {
    const options = this.options.attestation;
    if (!options) throw new Error('attestation is not configured for this device');
    const held = await this.certificate();
    const renewal = held !== null && Date.parse(held.notAfter) > Date.now();
    this.emit('attesting', { renewal });
    const outcome = await this.exchange(options).catch((e: unknown) => ({
      ok: false as const,
      reason: 'NO_ANSWER',
      message: e instanceof Error ? e.message : String(e),
    }));
    if (outcome.ok) {
      const certificate = { ...outcome.stored };
      await options.store.save(certificate);
      this.heldCertificate = certificate;
      this.renewalAttempt = 0;
      const info: CertificateInfo = {
        serialNumber: certificate.serialNumber,
        notBefore: new Date(certificate.notBefore),
        notAfter: new Date(certificate.notAfter),
        renewal,
      };
      this.log.info({ deviceId: this.deviceId, serialNumber: info.serialNumber, notAfter: certificate.notAfter, renewal }, 'device certificate received');
      this.emit('certificate', info);
      if (this.current.name === 'online' && options.enabled !== false) void this.planRenewal();
      return { ok: true, ...info };
    }
    this.log.warn({ deviceId: this.deviceId, reason: outcome.reason, message: outcome.message, renewal }, 'attestation failed');
    this.emit('certificate-refused', { reason: outcome.reason, message: outcome.message, renewal });
    // Retry with backoff while online; a reconnect plans afresh.
    if (this.current.name === 'online' && options.enabled !== false) void this.planRenewal(this.retry.delayMs(this.renewalAttempt++));
    return { ok: false, reason: outcome.reason, message: outcome.message };
  }

  private async exchange(options: AttestationOptions): Promise<{ ok: true; stored: StoredCertificate } | { ok: false; reason: string; message: string }> {
    const client = this.onlineClient();
    const timeoutMs = options.replyTimeoutMs ?? 10_000;
    const identity = await (this.loadedIdentity ??= loadIdentity(this.identity));
    const challengeId = newRequestId();
    const first = await this.request(client, 'challenge-request', challengeId, encode('challenge-request', { v: 1, requestId: challengeId }), 'challenge', timeoutMs);
    if ('result' in first) {
      return first.result === 'REFUSED' ? { ok: false, reason: first.reason, message: first.message } : { ok: false, reason: 'UNEXPECTED', message: 'a certificate arrived without an attestation' };
    }
    const prepared = await prepareAttestation({
      deviceId: this.deviceId,
      requestId: newRequestId(),
      nonce: first.nonce,
      measurements: await this.measurements(),
      sign: (data) => identity.sign(data),
    });
    const result = await this.request(
      client,
      'attestation',
      prepared.message.requestId,
      encode('attestation', prepared.message),
      'attestation-result',
      timeoutMs,
    );
    if (!('result' in result)) return { ok: false, reason: 'UNEXPECTED', message: 'a challenge arrived where a result was expected' };
    if (result.result === 'REFUSED') return { ok: false, reason: result.reason, message: result.message };
    return {
      ok: true,
      stored: {
        certificatePem: result.certificatePem,
        chainPem: result.chainPem,
        keyPem: prepared.operationalKeyPem,
        serialNumber: result.serialNumber,
        notBefore: result.notBefore,
        notAfter: result.notAfter,
      },
    };
  }

  private async measurements(): Promise<{ osVersion: string; images: Array<{ componentId: string; imageId: string; sha256: string }> }> {
    const installed = await this.installed();
    return {
      osVersion: installed.osVersion,
      images: installed.images.flatMap((i) =>
        i.sha256 ? [{ componentId: i.componentId, imageId: i.imageId, sha256: i.sha256.toLowerCase() }] : [],
      ),
    };
  }

  /** Publishes a request and waits for the reply carrying its requestId (or a timeout). */
  private request(
    client: MqttClient,
    message: 'challenge-request' | 'attestation',
    requestId: string,
    body: Buffer,
    expects: PendingReply['expects'],
    timeoutMs: number,
  ): Promise<Challenge | AttestationResult> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(new Error(`no ${expects} within ${timeoutMs} ms`));
      }, timeoutMs);
      const fail = (e: Error): void => {
        clearTimeout(timer);
        reject(e);
      };
      this.pending.set(requestId, {
        expects,
        resolve: (reply: Challenge | AttestationResult) => {
          clearTimeout(timer);
          resolve(reply);
        },
        reject: fail,
      });
      client.publishAsync(upTopic(this.deviceId, message), body, { qos: 1 }).catch((e: unknown) => {
        this.pending.delete(requestId);
        fail(e instanceof Error ? e : new Error(String(e)));
      });
    });
  }

  private onClosed(client: MqttClient): void {
    // Fail whatever still waits on this connection (publishRaw, subscribeRaw): it will never be acknowledged.
    client.end(true);
    if (this.isCurrent(client)) {
      this.cancelRenewal();
      for (const [id, waiter] of this.pending) {
        this.pending.delete(id);
        waiter.reject(new Error('connection closed'));
      }
    }
    const state = this.current;
    if (!this.isCurrent(client) || (state.name !== 'connecting' && state.name !== 'online')) return;
    // A connection that got online resets the backoff: the next wait is attempt 0 again.
    const attempt = state.name === 'online' ? 0 : state.attempt;
    const delayMs = this.backoff.delayMs(attempt);
    const timer = setTimeout(() => this.connect(attempt + 1), delayMs);
    this.transition({ name: 'backoff', attempt, timer }, attempt, { delayMs, reason: this.lastError ?? 'connection closed' });
    if (state.name === 'online') this.emit('offline');
  }

  private onMessage(topic: string, payload: Buffer): void {
    this.emit('message', topic, payload);
    const parsed = parseTopic(topic);
    if (parsed.kind !== 'down' || parsed.deviceId !== this.deviceId) return;
    if (parsed.message === 'challenge' || parsed.message === 'attestation-result') {
      this.onReply(parsed.message, payload);
      return;
    }
    if (parsed.message === 'update') {
      this.onUpdateTarget(payload);
      return;
    }
    if (parsed.message === 'error') {
      const decoded = decode('error', payload);
      if (decoded.ok) {
        this.log.warn({ deviceId: this.deviceId, ...decoded.value }, 'the service refused a message');
        this.emit('error-reply', decoded.value);
      } else {
        this.log.warn({ deviceId: this.deviceId, error: decoded.error }, 'unreadable error reply');
      }
    }
  }

  private onReply(message: 'challenge' | 'attestation-result', payload: Buffer): void {
    const decoded = message === 'challenge' ? decode('challenge', payload) : decode('attestation-result', payload);
    if (!decoded.ok) {
      this.log.warn({ deviceId: this.deviceId, message, error: decoded.error }, 'unreadable reply');
      return;
    }
    const waiter = this.pending.get(decoded.value.requestId);
    if (!waiter) return;
    this.pending.delete(decoded.value.requestId);
    waiter.resolve(decoded.value);
  }

  private onUpdateTarget(payload: Buffer): void {
    const decoded = decode('update', payload);
    if (!decoded.ok) {
      this.log.warn({ deviceId: this.deviceId, error: decoded.error }, 'unreadable update target');
      return;
    }
    const target = decoded.value;
    this.log.debug({ deviceId: this.deviceId, deploymentId: target.deploymentId, images: target.images.length }, 'update target');
    this.emit('update-target', target);
    this.updater?.onTarget(target);
  }

  private createUpdater(options: UpdateOptions): Updater {
    const updater = new Updater(
      {
        deviceId: this.deviceId,
        factoryState: this.factoryState(),
        log: this.log,
        isOnline: () => this.current.name === 'online',
        publishUpdateStatus: async (body) => {
          await this.onlineClient().publishAsync(upTopic(this.deviceId, 'update-status'), body, { qos: 1 });
        },
        tls: () => this.tlsClient(),
        sendStatus: async () => this.sendStatus(this.onlineClient()),
        reboot: (reason) => {
          this.reboot(reason).catch((e: unknown) =>
            this.log.error({ deviceId: this.deviceId, reason, error: e instanceof Error ? e.message : String(e) }, 'reboot failed'),
          );
        },
      },
      options,
    );
    updater.on('image-state', (report) => this.emit('image-state', report));
    updater.on('download-resumed', (resumed) => this.emit('download-resumed', resumed));
    updater.on('application-restarted', (app) => this.emit('application-restarted', app));
    return updater;
  }

  /** What the device was made with: the options' OS version and images. */
  private factoryState(): InstalledState {
    return { osVersion: this.options.osVersion ?? '24.10', osImageId: null, images: [...(this.options.installedImages ?? [])] };
  }

  /** Ends the connection and connects again as a freshly booted device, unless stop() is called meanwhile. */
  private async reboot(reason: RebootReason): Promise<void> {
    const stops = this.stops;
    this.log.info({ deviceId: this.deviceId, reason }, 'rebooting');
    this.emit('rebooting', { reason });
    await this.shutdown();
    if (this.stops !== stops || this.current.name !== 'stopped') return;
    this.bootedAt = null;
    this.start();
  }

  private async sendStatus(client: MqttClient): Promise<void> {
    const installed = await this.installed();
    const report: StatusReport = {
      v: 1,
      osVersion: installed.osVersion,
      uptimeSeconds: Math.floor((Date.now() - (this.bootedAt ?? Date.now())) / 1000),
      installedImages: [...installed.images],
    };
    await client.publishAsync(upTopic(this.deviceId, 'status'), encode('status', report), { qos: 1 });
  }

  private onlineClient(): MqttClient {
    if (this.current.name !== 'online') throw new Error(`device is ${this.current.name}, not online`);
    return this.current.client;
  }

  private isCurrent(client: MqttClient): boolean {
    return (this.current.name === 'connecting' || this.current.name === 'online') && this.current.client === client;
  }

  private transition(next: State, attempt: number, extra: { delayMs?: number; reason?: string } = {}): void {
    const previous = this.current.name;
    this.current = next;
    if (previous === next.name && next.name === 'stopped') return;
    this.log.info({ deviceId: this.deviceId, state: next.name, previous, attempt, ...extra }, 'device state');
    this.emit('state', { state: next.name, previous, attempt, ...extra });
  }
}

/** SUBACK return codes, including refusals (mqtt.js reports a refusal as an error that carries the packet). */
function subscribeForCodes(client: MqttClient, filter: string, qos: QoS): Promise<number[]> {
  return new Promise((resolve, reject) => {
    client.subscribe(filter, { qos }, (error, _granted, packet) => {
      const granted: readonly unknown[] = packet?.granted ?? [];
      const codes = granted.filter((g): g is number => typeof g === 'number');
      if (codes.length > 0) resolve(codes);
      else reject(error ?? new Error('no SUBACK'));
    });
  });
}

const newRequestId = (): string => randomBytes(9).toString('base64url');

/** The longest prefix of `events` whose error-reports payload stays within MAX_ERROR_REPORTS_BYTES (at least one event). */
function batchWithin(events: readonly ErrorEvent[], droppedTotal: number): readonly ErrorEvent[] {
  if (events.length === 0) return events;
  // The payload is the envelope with the events' JSON, comma-separated, inside its brackets.
  let bytes = Buffer.byteLength(JSON.stringify({ v: 1, events: [], droppedTotal }));
  let n = 0;
  for (const event of events) {
    const more = Buffer.byteLength(JSON.stringify(event)) + (n > 0 ? 1 : 0);
    if (n > 0 && bytes + more > MAX_ERROR_REPORTS_BYTES) break;
    bytes += more;
    n++;
  }
  return events.slice(0, n);
}

async function endClient(client: MqttClient): Promise<void> {
  if (client.disconnected) {
    client.end(true);
    return;
  }
  await new Promise<void>((resolve) => {
    const force = setTimeout(() => client.end(true, () => resolve()), GRACEFUL_END_MS);
    client.end(false, () => {
      clearTimeout(force);
      resolve();
    });
  });
}
