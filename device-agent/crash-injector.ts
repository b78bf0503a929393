/**
 * Makes a device crash now and then, for demos and tests: while started, it records an AppCrash (SIGSEGV) of a
 * random installed image — an OSCrash when the device has none — at exponentially distributed intervals (a
 * Poisson process of `perHour` crashes an hour). Timers are unref'd, so an injector never keeps a process alive.
 */
import type { ErrorEvent } from '../contract/mqtt/messages.js';

/** The crash the injector asks the device to record. */
export interface InjectedCrash {
  readonly category: Extract<ErrorEvent['category'], 'AppCrash' | 'OSCrash'>;
  readonly componentId?: string;
  readonly imageId?: string;
  readonly signal?: number;
  readonly description: string;
}

/** What the injector needs of a device. */
export interface CrashTarget {
  /** The images installed now (a crash names one of them). */
  installedImages(): readonly { readonly componentId: string; readonly imageId: string }[];
  record(crash: InjectedCrash): Promise<unknown>;
}

/** setTimeout / clearTimeout, replaceable in tests. */
export interface CrashScheduler {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface CrashInjectorOptions {
  /** Mean crashes an hour; 0 injects none. */
  readonly perHour: number;
  /** Uniform in [0, 1). @default Math.random */
  readonly random?: () => number;
  /** @default unref'd node timers */
  readonly scheduler?: CrashScheduler;
  /** Told when recording a crash failed (the injector carries on). */
  readonly onError?: (e: unknown) => void;
}

/** Signal 11: a segmentation fault, the classic application crash. */
export const INJECTED_CRASH_SIGNAL = 11;
const HOUR_MS = 3_600_000;

const nodeScheduler: CrashScheduler = {
  set: (callback, ms) => setTimeout(callback, ms).unref(),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export class CrashInjector {
  private readonly random: () => number;
  private readonly scheduler: CrashScheduler;
  private timer: unknown = null;
  private running = false;

  constructor(
    private readonly target: CrashTarget,
    private readonly options: CrashInjectorOptions,
  ) {
    if (!Number.isFinite(options.perHour) || options.perHour < 0) throw new RangeError(`perHour must be a number >= 0, got ${options.perHour}`);
    this.random = options.random ?? Math.random;
    this.scheduler = options.scheduler ?? nodeScheduler;
  }

  get started(): boolean {
    return this.running;
  }

  /** Mean wait between crashes (ms); Infinity when perHour is 0. */
  get meanIntervalMs(): number {
    return this.options.perHour > 0 ? HOUR_MS / this.options.perHour : Infinity;
  }

  /** Plans the first crash; does nothing when already started or perHour is 0. */
  start(): void {
    if (this.running || this.options.perHour <= 0) return;
    this.running = true;
    this.plan();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== null) this.scheduler.clear(this.timer);
    this.timer = null;
  }

  /** The crash the injector would record now: an AppCrash of a random installed image, or an OSCrash. */
  nextCrash(): InjectedCrash {
    const images = this.target.installedImages();
    if (images.length === 0) return { category: 'OSCrash', description: 'injected OS crash' };
    const image = images[Math.min(images.length - 1, Math.floor(this.random() * images.length))] ?? images[0];
    return {
      category: 'AppCrash',
      componentId: image?.componentId,
      imageId: image?.imageId,
      signal: INJECTED_CRASH_SIGNAL,
      description: 'injected crash (SIGSEGV)',
    };
  }

  private plan(): void {
    // Exponential with mean HOUR_MS / perHour: -ln(1 - U) * mean, U in [0, 1).
    const delayMs = -Math.log(1 - this.random()) * this.meanIntervalMs;
    this.timer = this.scheduler.set(() => this.fire(), Math.min(Math.max(0, delayMs), 2_147_483_647));
  }

  private fire(): void {
    this.timer = null;
    if (!this.running) return;
    this.target.record(this.nextCrash()).catch((e: unknown) => this.options.onError?.(e));
    this.plan();
  }
}
