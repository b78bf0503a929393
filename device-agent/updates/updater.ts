/**
 * Over-the-air updates of one emulated device. The service sends the device's target (down/update) after every
 * status report and whenever it changes; the updater works through the newest target's images, OS first, one at a
 * time, reporting each step on up/update-status:
 *
 *   installed already ──▶ already-installed (once per deployment and image; not for the OS feed alone)
 *   pending ──random delay──▶ downloading ──▶ rejected (sha256 mismatch | signature) | failed (download: …)
 *                                     └──▶ installing ──▶ installed | failed (install hook) | (device restarts)
 *
 * An installed application is recorded, "restarted", and a fresh status report follows; an installed OS is
 * recorded and the device reboots. Payloads are installed only when their SHA-256 matches the target's and their
 * signature verifies with one of the device's own trusted signing keys — never a key the service supplies.
 * When the device is not online as a report is due, the run ends; the next target (after reconnecting) starts a
 * new one. A rejected or failed image is not tried again before the device's next connect or reportStatus().
 */
import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { encode } from '../../contract/mqtt/codec.js';
import type { TargetImage, UpdateState, UpdateTarget } from '../../contract/mqtt/messages.js';
import { verifyImageSignature, type ImageMetadata } from '../../contract/image/package.js';
import { toBackoffPolicy, type BackoffPolicy, type FullJitterOptions } from '../backoff.js';
import { DEFAULT_DOWNLOAD_ATTEMPTS, DEFAULT_DOWNLOAD_RETRY, downloadImage, type DownloadTls } from './downloader.js';
import type { InstalledImage, InstalledState, InstalledStore } from './installed-store.js';

export type InstallOutcome = 'ok' | 'reboot' | { readonly fail: string };

export interface UpdateOptions {
  /** What the device has installed; seeded from options.osVersion / options.installedImages when empty. */
  readonly store: InstalledStore;
  /**
   * SPKI PEM public keys: an image is installed only if its signature verifies with one of them (its trust anchors,
   * configured out of band, never taken from the service).
   */
  readonly trustedSigningKeysPem: readonly string[];
  /** Overrides the service's delay window (seconds) — tests use 0. */
  readonly delayWindowSeconds?: number;
  /** @default Math.random */
  readonly random?: () => number;
  /** Test hook: how an install goes. 'ok' (default), 'reboot' (the device restarts mid-install: nothing is recorded), or { fail: reason }. */
  readonly installHook?: (image: TargetImage) => Promise<InstallOutcome>;
  /** Test hook: the first download attempt of each image is cut after this many bytes; the device then resumes with Range. */
  readonly interruptDownloadAfterBytes?: number;
  /** Download retries (full-jitter backoff like the rest of the device). @default { baseMs: 1000, capMs: 30000 }, at most 5 attempts per image per target */
  readonly retry?: BackoffPolicy | FullJitterOptions;
}

export interface ImageStateReport {
  readonly imageId: string;
  readonly state: UpdateState;
  readonly reason?: string;
}

export type RebootReason = 'os-update' | 'install-crash';

export interface UpdaterEvents {
  /** An update-status report the broker acknowledged. */
  'image-state': [ImageStateReport];
  'download-resumed': [{ readonly imageId: string; readonly offset: number }];
  /** An application image was installed and the application restarted. */
  'application-restarted': [{ readonly componentId: string; readonly imageId: string }];
}

/** What the updater needs of its device. */
export interface UpdaterHost {
  readonly deviceId: string;
  /** What the device ran before it stored anything (options.osVersion / options.installedImages). */
  readonly factoryState: InstalledState;
  readonly log: {
    info(obj: object, msg?: string): void;
    warn(obj: object, msg?: string): void;
    debug(obj: object, msg?: string): void;
  };
  isOnline(): boolean;
  /** Publishes up/update-status (QoS 1); resolves on PUBACK, rejects when not online or the connection drops. */
  publishUpdateStatus(body: Buffer): Promise<void>;
  /** The TLS client identity of the MQTT connection (key, certificate chain, trust anchors). */
  tls(): DownloadTls;
  /** Sends a fresh status report. */
  sendStatus(): Promise<void>;
  /** Restarts the device (the host stops the updater first). */
  reboot(reason: RebootReason): void;
}

/** Why a run ends early: the device is not online, or it restarts. */
class RunEnded extends Error {
  override readonly name = 'RunEnded';
}

const MAX_REASON_LENGTH = 200;
/** A reason as the contract takes it: 1 to 200 characters. */
const shortReason = (reason: string): string => {
  const text = reason.trim() || 'unknown';
  return text.length > MAX_REASON_LENGTH ? `${text.slice(0, MAX_REASON_LENGTH - 1)}…` : text;
};
const isOs = (image: TargetImage): boolean => image.type === 'OS';
const sameId = (a: string, b: string | null | undefined): boolean => b !== null && b !== undefined && a.toLowerCase() === b.toLowerCase();
/** OS images first, otherwise in the target's order. */
const ordered = (images: readonly TargetImage[]): TargetImage[] => [...images.filter(isOs), ...images.filter((i) => !isOs(i))];
const key = (deploymentId: string | null, imageId: string): string => `${deploymentId ?? 'os-feed'}/${imageId.toLowerCase()}`;

export class Updater extends EventEmitter<UpdaterEvents> {
  private state: InstalledState | null = null;
  private loading: Promise<InstalledState> | null = null;
  private readonly retry: BackoffPolicy;
  private readonly random: () => number;
  /** The newest target and how many have arrived (a run compares the count with the one it works on). */
  private newest: UpdateTarget | null = null;
  private arrived = 0;
  private consumed = 0;
  private run: { readonly abort: AbortController; readonly done: Promise<void> } | null = null;
  /** (deployment, image) pairs reported already-installed or installed: never reported already-installed again. */
  private readonly reported = new Set<string>();
  /** (deployment, image) pairs that were rejected or failed since the last check (connect, reportStatus). */
  private readonly settled = new Set<string>();

  constructor(
    private readonly host: UpdaterHost,
    private readonly options: UpdateOptions,
  ) {
    super();
    this.retry = toBackoffPolicy(options.retry ?? DEFAULT_DOWNLOAD_RETRY);
    this.random = options.random ?? Math.random;
  }

  /** What the device runs: the store's state, or the factory state while the store is empty. */
  installed(): Promise<InstalledState> {
    if (this.state) return Promise.resolve(this.state);
    this.loading ??= this.options.store.load().then(
      (stored) => (this.state ??= stored ?? this.host.factoryState),
      (e: unknown) => {
        this.loading = null;
        throw e;
      },
    );
    return this.loading;
  }

  /** The images installed, as last loaded (the factory images before the store was read). */
  installedImagesNow(): readonly InstalledImage[] {
    return (this.state ?? this.host.factoryState).images;
  }

  /** The device checks for updates afresh (it connected, or was asked to report): failed images may be retried. */
  forgetFailures(): void {
    this.settled.clear();
  }

  /**
   * A target arrived: it becomes the newest, and a run starts unless one is in progress (it picks it up). A target
   * that arrives before the device is online (it follows the status report of the connect) waits for onOnline().
   */
  onTarget(target: UpdateTarget): void {
    this.newest = target;
    this.arrived++;
    this.startRun();
  }

  /** The device is online: a target that arrived while it was connecting starts its run now. */
  onOnline(): void {
    this.startRun();
  }

  /** Ends the run in progress (delays and downloads are cancelled) and forgets the target: stop() and reboots. */
  cancel(): void {
    this.newest = null;
    this.consumed = this.arrived;
    const run = this.run;
    this.run = null;
    run?.abort.abort(new RunEnded('the device stopped'));
  }

  private startRun(): void {
    if (this.run || !this.newest || this.consumed === this.arrived || !this.host.isOnline()) return;
    const abort = new AbortController();
    const done = this.work(abort.signal)
      .catch((e: unknown) => {
        if (e instanceof RunEnded || abort.signal.aborted) {
          this.host.log.debug({ deviceId: this.host.deviceId, reason: e instanceof Error ? e.message : String(e) }, 'update run ended');
        } else {
          this.host.log.warn({ deviceId: this.host.deviceId, error: e instanceof Error ? e.message : String(e) }, 'update run failed');
        }
      })
      .finally(() => {
        if (this.run?.abort !== abort) return;
        this.run = null;
        // A target that arrived while this run was ending (e.g. after reconnecting).
        if (!abort.signal.aborted) this.startRun();
      });
    this.run = { abort, done };
  }

  /** Works through the newest target; after each image, switches to a newer one if it arrived. */
  private async work(signal: AbortSignal): Promise<void> {
    let target = this.take();
    /** (deployment, image) pairs this run went through. */
    const attempted = new Set<string>();
    let queue = ordered(target.images);
    for (let image = queue.shift(); image; image = queue.shift()) {
      attempted.add(key(target.deploymentId, image.imageId));
      await this.process(target, image, signal);
      if (this.arrived !== this.consumed) {
        target = this.take();
        // Images no longer in the target are dropped; the others, for this deployment, follow in its order.
        const deploymentId = target.deploymentId;
        queue = ordered(target.images).filter((i) => !attempted.has(key(deploymentId, i.imageId)));
      }
    }
  }

  private take(): UpdateTarget {
    const target = this.newest;
    if (!target) throw new RunEnded('no target');
    this.consumed = this.arrived;
    return target;
  }

  private async process(target: UpdateTarget, image: TargetImage, signal: AbortSignal): Promise<void> {
    const { deploymentId } = target;
    const pair = key(deploymentId, image.imageId);
    if (this.isInstalled(await this.installed(), image)) {
      if (deploymentId !== null && !this.reported.has(pair)) {
        await this.report(deploymentId, image, 'already-installed', signal);
        this.reported.add(pair);
      }
      return;
    }
    if (this.settled.has(pair)) return;

    await this.report(deploymentId, image, 'pending', signal);
    const windowSeconds = this.options.delayWindowSeconds ?? target.delayWindowSeconds;
    const delayMs = Math.floor(this.random() * windowSeconds * 1000);
    if (delayMs > 0) await delay(delayMs, undefined, { signal, ref: false });
    await this.report(deploymentId, image, 'downloading', signal);

    const download = await downloadImage({
      url: image.url,
      tls: this.host.tls(),
      size: image.size,
      sha256: image.sha256,
      signal,
      maxAttempts: DEFAULT_DOWNLOAD_ATTEMPTS,
      retry: this.retry,
      ...(this.options.interruptDownloadAfterBytes !== undefined ? { interruptFirstAttemptAfterBytes: this.options.interruptDownloadAfterBytes } : {}),
      onResume: (offset) => {
        this.host.log.info({ deviceId: this.host.deviceId, imageId: image.imageId, offset }, 'download resumed');
        this.emit('download-resumed', { imageId: image.imageId, offset });
      },
    });
    signal.throwIfAborted();
    if (!download.ok) {
      const detail = download.rejected ? { detail: download.detail } : {};
      this.host.log.warn({ deviceId: this.host.deviceId, imageId: image.imageId, reason: download.reason, ...detail }, 'image download did not succeed');
      this.settled.add(pair);
      await this.report(deploymentId, image, download.rejected ? 'rejected' : 'failed', signal, download.reason);
      return;
    }
    if (!this.signatureVerifies(image)) {
      this.host.log.warn({ deviceId: this.host.deviceId, imageId: image.imageId }, 'image signature does not verify with a trusted key; not installed');
      this.settled.add(pair);
      await this.report(deploymentId, image, 'rejected', signal, 'signature');
      return;
    }

    await this.report(deploymentId, image, 'installing', signal);
    const outcome = await this.install(image);
    signal.throwIfAborted();
    if (outcome === 'reboot') {
      this.host.log.warn({ deviceId: this.host.deviceId, imageId: image.imageId }, 'the device restarted while installing');
      this.host.reboot('install-crash');
      throw new RunEnded('the device restarts');
    }
    if (outcome !== 'ok') {
      this.settled.add(pair);
      await this.report(deploymentId, image, 'failed', signal, outcome.fail);
      return;
    }

    await this.record(image);
    this.reported.add(pair);
    this.host.log.info({ deviceId: this.host.deviceId, imageId: image.imageId, type: image.type, version: image.version }, 'image installed');
    if (isOs(image)) {
      // The new OS runs after a reboot, whether or not the report got through.
      try {
        await this.report(deploymentId, image, 'installed', signal);
      } finally {
        if (!signal.aborted) this.host.reboot('os-update');
      }
      throw new RunEnded('the device restarts');
    }
    this.host.log.info({ deviceId: this.host.deviceId, componentId: image.componentId, imageId: image.imageId }, 'application restarted');
    this.emit('application-restarted', { componentId: image.componentId, imageId: image.imageId });
    if (!this.host.isOnline()) throw new RunEnded('not online');
    await this.host.sendStatus().catch((e: unknown) => {
      throw new RunEnded(`status report not sent: ${e instanceof Error ? e.message : String(e)}`);
    });
    await this.report(deploymentId, image, 'installed', signal);
  }

  private isInstalled(state: InstalledState, image: TargetImage): boolean {
    if (isOs(image)) return sameId(image.imageId, state.osImageId);
    return state.images.some((i) => sameId(i.componentId, image.componentId) && sameId(i.imageId, image.imageId));
  }

  private signatureVerifies(image: TargetImage): boolean {
    const metadata: ImageMetadata = {
      componentId: image.componentId,
      name: image.name,
      version: image.version,
      type: image.type,
      sha256: image.sha256,
      size: image.size,
    };
    return this.options.trustedSigningKeysPem.some((keyPem) => verifyImageSignature(metadata, image.signature, keyPem));
  }

  private async install(image: TargetImage): Promise<InstallOutcome> {
    const hook = this.options.installHook;
    if (!hook) return 'ok';
    try {
      return await hook(image);
    } catch (e) {
      return { fail: e instanceof Error ? e.message : String(e) };
    }
  }

  /** An OS image sets the OS; another image replaces the one of its component. */
  private async record(image: TargetImage): Promise<void> {
    const current = await this.installed();
    const next: InstalledState = isOs(image)
      ? { ...current, osVersion: image.version, osImageId: image.imageId }
      : {
          ...current,
          images: [
            ...current.images.filter((i) => !sameId(i.componentId, image.componentId)),
            { componentId: image.componentId, imageId: image.imageId, name: image.name, version: image.version, sha256: image.sha256.toLowerCase() },
          ],
        };
    await this.options.store.save(next);
    this.state = next;
  }

  /** Publishes one update-status report (QoS 1); the run ends when the device is not online or it is not acknowledged. */
  private async report(deploymentId: string | null, image: TargetImage, state: UpdateState, signal: AbortSignal, reason?: string): Promise<void> {
    signal.throwIfAborted();
    if (!this.host.isOnline()) throw new RunEnded(`not online to report ${state}`);
    const short = reason === undefined ? undefined : shortReason(reason);
    const body = encode('update-status', { v: 1, deploymentId, imageId: image.imageId, state, ...(short !== undefined ? { reason: short } : {}) });
    try {
      await this.host.publishUpdateStatus(body);
    } catch (e) {
      throw new RunEnded(`${state} not acknowledged: ${e instanceof Error ? e.message : String(e)}`);
    }
    this.host.log.info({ deviceId: this.host.deviceId, deploymentId, imageId: image.imageId, state, ...(short !== undefined ? { reason: short } : {}) }, 'update status');
    this.emit('image-state', { imageId: image.imageId, state, ...(short !== undefined ? { reason: short } : {}) });
    signal.throwIfAborted();
  }
}
