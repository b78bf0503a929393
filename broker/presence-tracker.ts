/**
 * Tells the domain when devices come and go. aedes announces a registered connection with 'client' and its end
 * with 'clientDisconnect' (also after a keep-alive timeout, a socket error or a takeover by a newer connection of
 * the same device). Each call is queued per device so the domain sees them in event order, and every call is
 * tracked so close() can wait for the last disconnection to be recorded.
 */
import type { Client } from 'aedes';
import type { PresenceService } from '../domain/services.js';
import type { Logger } from '../domain/shared/logger.js';
import { errorSummary } from './errors.js';
import { SerialQueue } from './serial-queue.js';
import type { DeviceSession } from './session.js';
import { TouchThrottle } from './touch-throttle.js';

interface LiveConnection {
  readonly session: DeviceSession;
  /** The domain's connection sequence for this connection; null when recording it failed. */
  readonly seq: Promise<number | null>;
}

/** How long keep-alives wait to be written together, and how many go in one statement. */
const TOUCH_BATCH_MS = 1_000;
const TOUCH_BATCH_SIZE = 500;

export class PresenceTracker {
  private readonly queue = new SerialQueue();
  private readonly live = new Map<Client, LiveConnection>();
  /** The newest connection of each device (during a takeover the old one may still be closing). */
  private readonly newest = new Map<string, Client>();
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Per closed connection: done once its disconnection is recorded. */
  private readonly disconnections = new WeakMap<Client, Promise<void>>();
  private readonly throttle: TouchThrottle;
  /** Devices whose keep-alive is due a write: written together, once per TOUCH_BATCH_MS, not one statement each. */
  private readonly dueTouches = new Set<string>();
  private touchTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly presence: PresenceService,
    private readonly brokerNodeId: string,
    private readonly log: Logger,
    touchIntervalMs: number,
    now: () => number,
  ) {
    this.throttle = new TouchThrottle(touchIntervalMs, now);
  }

  /** aedes 'client': the connection is registered (CONNACK 0 follows). */
  connected(client: Client, session: DeviceSession, onRecordFailed: () => void): void {
    const { deviceId, remoteAddress } = session;
    const seq = this.track(
      this.queue.run(deviceId, async () => {
        try {
          const { connectionSeq } = await this.presence.connected(deviceId, { remoteAddress, brokerNodeId: this.brokerNodeId });
          session.log.info({ connectionSeq }, 'device connected');
          return connectionSeq;
        } catch (error) {
          // An online device the domain does not know is online would be invisible to operators: drop the
          // connection so the device reconnects and the record is tried again.
          session.log.error({ err: errorSummary(error) }, 'could not record the connection; disconnecting the device');
          onRecordFailed();
          return null;
        }
      }),
    );
    this.live.set(client, { session, seq });
    this.newest.set(deviceId, client);
    this.throttle.markTouched(deviceId);
  }

  /** aedes 'clientDisconnect'. */
  disconnected(client: Client): void {
    const connection = this.live.get(client);
    if (!connection) return;
    this.live.delete(client);
    const { deviceId } = connection.session;
    if (this.newest.get(deviceId) === client) {
      this.newest.delete(deviceId);
      this.throttle.forget(deviceId);
    }
    const recorded = this.track(
      this.queue.run(deviceId, async () => {
        const seq = await connection.seq;
        if (seq === null) return;
        try {
          await this.presence.disconnected(deviceId, seq);
          connection.session.log.info({ connectionSeq: seq }, 'device disconnected');
        } catch (error) {
          // The node's next start (resetNode) marks it offline; nothing better to do now.
          connection.session.log.error({ err: errorSummary(error), connectionSeq: seq }, 'could not record the disconnection');
        }
      }),
    );
    this.disconnections.set(client, recorded);
  }

  /** Resolves once the connection's disconnection is recorded (at once for a connection never recorded). */
  disconnectionRecorded(client: Client): Promise<void> {
    return this.disconnections.get(client) ?? Promise.resolve();
  }

  /** aedes 'ping' (PINGREQ): refreshes lastSeen at most once per interval per device, in batches. */
  pinged(client: Client): void {
    const connection = this.live.get(client);
    if (!connection || !this.throttle.shouldTouch(connection.session.deviceId)) return;
    this.dueTouches.add(connection.session.deviceId);
    if (this.touchTimer === null) {
      this.touchTimer = setTimeout(() => this.flushTouches(), TOUCH_BATCH_MS);
      this.touchTimer.unref();
    }
  }

  /** Writes the due keep-alives: a fleet of thousands pinging costs a few statements a second, not thousands. */
  private flushTouches(): void {
    if (this.touchTimer) clearTimeout(this.touchTimer);
    this.touchTimer = null;
    const ids = [...this.dueTouches];
    this.dueTouches.clear();
    for (let i = 0; i < ids.length; i += TOUCH_BATCH_SIZE) {
      const batch = ids.slice(i, i + TOUCH_BATCH_SIZE);
      this.track(
        this.presence.touch(batch).catch((error: unknown) => {
          this.log.warn({ err: errorSummary(error), devices: batch.length }, 'could not record keep-alives');
        }),
      );
    }
  }

  /** A status report refreshed lastSeen: no touch needed for another interval. */
  seen(deviceId: string): void {
    if (this.newest.has(deviceId)) this.throttle.markTouched(deviceId);
  }

  newestConnectionOf(deviceId: string): Client | null {
    return this.newest.get(deviceId) ?? null;
  }

  get connectedDevices(): number {
    return this.newest.size;
  }

  /** Waits until every presence call started so far (and those they chain) has finished. */
  async settled(): Promise<void> {
    this.flushTouches();
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.inFlight.add(work);
    const forget = (): void => {
      this.inFlight.delete(work);
    };
    work.then(forget, forget);
    return work;
  }
}
