/**
 * Many emulated devices in one process: started at a bounded rate (ramp) and with a bounded number connecting at
 * once, so a fleet start is a controlled storm rather than a self-inflicted outage; watched through one summary.
 */
import { EmulatedDevice, type DeviceLog } from './emulated-device.js';
import { MemoryCertificateStore } from './certificate-store.js';
import { MemoryErrorQueueStore } from './error-queue.js';
import type { IdentityFile } from './identity.js';
import { MemoryInstalledStore } from './updates/installed-store.js';

export interface FleetOptions {
  readonly identities: readonly IdentityFile[];
  readonly brokerUrl: string;
  /** Devices started per second. @default 100 */
  readonly rampPerSecond?: number;
  /** Most devices connecting (TLS + CONNACK) at once. @default 64 */
  readonly maxConnecting?: number;
  /** Attest and renew certificates (kept in memory). @default true */
  readonly attest?: boolean;
  /**
   * Mean injected crashes per device per hour, sent as error reports (every device queues its error events in
   * memory, as it keeps its certificate). @default 0
   */
  readonly crashRatePerHour?: number;
  /**
   * With it, every device takes over-the-air updates signed by one of these public keys (SPKI PEM), keeping what it
   * installed in memory. Without it, update targets are ignored.
   */
  readonly trustedSigningKeysPem?: readonly string[];
  readonly log?: DeviceLog;
}

export interface FleetSummary {
  readonly total: number;
  readonly started: number;
  readonly online: number;
  readonly certified: number;
  /** Error events the broker acknowledged, over all devices. */
  readonly errorEventsSent: number;
  /** Devices in the middle of an update (their last report: pending, downloading or installing). */
  readonly updating: number;
  /** Images installed over the air, over all devices. */
  readonly installed: number;
  /** Devices whose last connection attempt failed, by the reason of that failure. */
  readonly failing: Readonly<Record<string, number>>;
}

export class Fleet {
  readonly devices: readonly EmulatedDevice[];
  private started = 0;
  /** Kept from state events, so neither the ramp nor the summary walks the whole fleet. */
  private connecting = 0;
  private online = 0;
  private readonly certified = new Set<string>();
  private errorEventsSent = 0;
  private readonly updatingDevices = new Set<string>();
  private installed = 0;
  private readonly lastFailure = new Map<string, string>();
  private stopping = false;
  private starting: Promise<void> | null = null;

  constructor(private readonly options: FleetOptions) {
    this.devices = options.identities.map((identity) => {
      const device = new EmulatedDevice({
        identity,
        brokerUrl: options.brokerUrl,
        ...(options.log ? { log: options.log } : {}),
        ...(options.attest === false ? {} : { attestation: { store: new MemoryCertificateStore() } }),
        errorReports: {
          store: new MemoryErrorQueueStore(),
          ...((options.crashRatePerHour ?? 0) > 0 ? { crashInjection: { perHour: options.crashRatePerHour ?? 0 } } : {}),
        },
        ...(options.trustedSigningKeysPem
          ? { updates: { store: new MemoryInstalledStore(), trustedSigningKeysPem: options.trustedSigningKeysPem } }
          : {}),
      });
      device.on('state', (s) => {
        if (s.previous === 'connecting') this.connecting--;
        if (s.state === 'connecting') this.connecting++;
        if (s.previous === 'online') this.online--;
        if (s.state === 'online') this.online++;
        if (s.state === 'online') this.lastFailure.delete(device.deviceId);
        if (s.state === 'backoff') this.lastFailure.set(device.deviceId, s.reason ?? 'connection closed');
      });
      device.on('certificate', () => this.certified.add(device.deviceId));
      device.on('error-reports-sent', ({ count }) => (this.errorEventsSent += count));
      device.on('image-state', ({ state }) => {
        if (state === 'pending' || state === 'downloading' || state === 'installing') this.updatingDevices.add(device.deviceId);
        else this.updatingDevices.delete(device.deviceId);
        if (state === 'installed') this.installed++;
      });
      return device;
    });
  }

  /** Starts every device at the ramp rate; resolves once all are started (not necessarily online). */
  start(): Promise<void> {
    this.starting ??= this.ramp();
    return this.starting;
  }

  summary(): FleetSummary {
    const failing: Record<string, number> = {};
    for (const reason of this.lastFailure.values()) failing[reason] = (failing[reason] ?? 0) + 1;
    return {
      total: this.devices.length,
      started: this.started,
      online: this.online,
      certified: this.certified.size,
      errorEventsSent: this.errorEventsSent,
      updating: this.updatingDevices.size,
      installed: this.installed,
      failing,
    };
  }

  /** Stops starting new devices and disconnects every started one. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.starting?.catch(() => undefined);
    await Promise.all(this.devices.map((d) => d.stop()));
  }

  private async ramp(): Promise<void> {
    const intervalMs = 1000 / Math.max(1, this.options.rampPerSecond ?? 100);
    const maxConnecting = Math.max(1, this.options.maxConnecting ?? 64);
    const begin = Date.now();
    for (const [i, device] of this.devices.entries()) {
      // Staggered: device i starts no earlier than i / ramp seconds after the first ...
      const due = begin + i * intervalMs;
      if (due > Date.now()) await sleep(due - Date.now());
      // ... and only while few enough are mid-handshake.
      while (!this.stopping && this.connecting >= maxConnecting) await sleep(10);
      if (this.stopping) return;
      device.start();
      this.started++;
    }
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One line for a terminal: "48/50 online, 47 certified, 50 started, 3 updating, 45 installed, 12 error events sent;
 * failing: 2 × ECONNREFUSED" (updates and error events only once there are some).
 */
export function formatSummary(s: FleetSummary): string {
  const failing = Object.entries(s.failing)
    .sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => `${n} × ${reason}`)
    .join(', ');
  const errors = s.errorEventsSent > 0 ? `, ${s.errorEventsSent} error event${s.errorEventsSent === 1 ? '' : 's'} sent` : '';
  const updates = s.updating > 0 || s.installed > 0 ? `, ${s.updating} updating, ${s.installed} installed` : '';
  return `${s.online}/${s.total} online, ${s.certified} certified, ${s.started} started${updates}${errors}${failing ? `; failing: ${failing}` : ''}`;
}
