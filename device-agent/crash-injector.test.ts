import { CrashInjector, INJECTED_CRASH_SIGNAL, type CrashScheduler, type CrashTarget, type InjectedCrash } from './crash-injector.js';

/** Timers run by hand: `fire()` runs the one pending callback. */
function manualScheduler() {
  const pending = new Map<number, { callback: () => void; ms: number }>();
  let next = 0;
  const scheduler: CrashScheduler = {
    set: (callback, ms) => {
      pending.set(++next, { callback, ms });
      return next;
    },
    clear: (handle) => {
      pending.delete(handle as number);
    },
  };
  return {
    scheduler,
    pending,
    fire(): number {
      const [id, timer] = [...pending.entries()][0] ?? [];
      if (id === undefined || timer === undefined) throw new Error('no timer pending');
      pending.delete(id);
      timer.callback();
      return timer.ms;
    },
  };
}

const imageA = { componentId: '11111111-2222-4333-8444-555555555555', imageId: '66666666-7777-4888-9999-aaaaaaaaaaaa' };
const imageB = { componentId: '21111111-2222-4333-8444-555555555555', imageId: '76666666-7777-4888-9999-aaaaaaaaaaaa' };

function target(images: ReadonlyArray<{ componentId: string; imageId: string }>): CrashTarget & { recorded: InjectedCrash[] } {
  const recorded: InjectedCrash[] = [];
  return { recorded, installedImages: () => images, record: async (crash) => recorded.push(crash) };
}

describe('CrashInjector', () => {
  it('records an AppCrash (SIGSEGV) of a random installed image each time its timer fires', async () => {
    const timers = manualScheduler();
    const device = target([imageA, imageB]);
    const randoms = [0.5, 0.1, 0.5, 0.9, 0.5];
    const injector = new CrashInjector(device, { perHour: 60, random: () => randoms.shift() ?? 0.5, scheduler: timers.scheduler });
    injector.start();
    expect(timers.pending.size).toBe(1);
    timers.fire();
    timers.fire();
    await Promise.resolve();
    expect(device.recorded).toEqual([
      { category: 'AppCrash', ...imageA, signal: INJECTED_CRASH_SIGNAL, description: expect.any(String) },
      { category: 'AppCrash', ...imageB, signal: INJECTED_CRASH_SIGNAL, description: expect.any(String) },
    ]);
    // The next crash is planned.
    expect(timers.pending.size).toBe(1);
    injector.stop();
  });

  it('records an OSCrash when the device has no installed images', async () => {
    const timers = manualScheduler();
    const device = target([]);
    const injector = new CrashInjector(device, { perHour: 1, random: () => 0.3, scheduler: timers.scheduler });
    injector.start();
    timers.fire();
    await Promise.resolve();
    expect(device.recorded).toEqual([{ category: 'OSCrash', description: expect.any(String) }]);
    expect(device.recorded[0]).not.toHaveProperty('signal');
    injector.stop();
  });

  it('waits exponentially distributed intervals with a mean of an hour over perHour', () => {
    const timers = manualScheduler();
    const injector = new CrashInjector(target([]), { perHour: 4, random: () => 1 - Math.exp(-1), scheduler: timers.scheduler });
    expect(injector.meanIntervalMs).toBe(900_000);
    injector.start();
    // -ln(1 - U) = 1 for this U: exactly the mean.
    expect(timers.fire()).toBeCloseTo(900_000, 3);
    injector.stop();
  });

  it('When stopped, then it plans nothing more and records nothing', async () => {
    const timers = manualScheduler();
    const device = target([imageA]);
    const injector = new CrashInjector(device, { perHour: 10, scheduler: timers.scheduler });
    injector.start();
    injector.start();
    expect(timers.pending.size).toBe(1);
    injector.stop();
    expect(timers.pending.size).toBe(0);
    expect(injector.started).toBe(false);
    expect(device.recorded).toEqual([]);
  });

  it('When perHour is 0, then start does nothing', () => {
    const timers = manualScheduler();
    const injector = new CrashInjector(target([imageA]), { perHour: 0, scheduler: timers.scheduler });
    injector.start();
    expect(timers.pending.size).toBe(0);
    expect(() => new CrashInjector(target([]), { perHour: -1 })).toThrow(RangeError);
  });

  it('When recording fails, then it reports the error and keeps injecting', async () => {
    const timers = manualScheduler();
    const errors: unknown[] = [];
    const failing: CrashTarget = { installedImages: () => [], record: () => Promise.reject(new Error('disk full')) };
    const injector = new CrashInjector(failing, { perHour: 10, scheduler: timers.scheduler, onError: (e) => errors.push(e) });
    injector.start();
    timers.fire();
    await new Promise((resolve) => setImmediate(resolve));
    expect(errors).toEqual([new Error('disk full')]);
    expect(timers.pending.size).toBe(1);
    injector.stop();
  });

  it('runs on node timers by default', async () => {
    const device = target([imageA]);
    // A mean of 1 ms, so the test need not wait.
    const injector = new CrashInjector(device, { perHour: 3_600_000 });
    injector.start();
    const deadline = Date.now() + 5_000;
    while (device.recorded.length < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    injector.stop();
    const seen = device.recorded.length;
    expect(seen).toBeGreaterThanOrEqual(3);
    expect(device.recorded.every((c) => c.category === 'AppCrash' && c.componentId === imageA.componentId)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(device.recorded).toHaveLength(seen);
  });
});
