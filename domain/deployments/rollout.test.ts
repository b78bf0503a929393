import { decide, deviceStateOf, policyProblem, waveTarget, type RolloutPolicy, type RolloutSnapshot } from './rollout.js';

const policy = (over: Partial<RolloutPolicy> = {}): RolloutPolicy => ({
  waves: [{ percent: 10 }, { percent: 50 }],
  maxDevicesPerMinute: null,
  minSample: 1,
  maxFailurePercent: null,
  maxCrashReports: null,
  ...over,
});

const snapshot = (over: Partial<RolloutSnapshot> = {}): RolloutSnapshot => ({
  state: 'ACTIVE',
  wave: 0,
  total: 20,
  admitted: 0,
  finished: 0,
  failed: 0,
  crashReports: 0,
  admittedInLastMinute: 0,
  ...over,
});

describe('wave targets', () => {
  test('percentages round up, counts are taken as they are, the step after the last wave is everyone', () => {
    const p = policy({ waves: [{ percent: 10 }, { count: 7 }] });
    expect([waveTarget(p, 0, 15), waveTarget(p, 1, 15), waveTarget(p, 2, 15)]).toEqual([2, 7, 15]);
    expect(waveTarget(policy({ waves: [{ count: 50 }] }), 0, 20)).toBe(20);
    expect(waveTarget(policy({ waves: [] }), 0, 20)).toBe(20);
  });
});

describe('decide', () => {
  test('a halted, cancelled or superseded rollout does nothing', () => {
    for (const state of ['HALTED', 'CANCELLED', 'SUPERSEDED'] as const) expect(decide(policy(), snapshot({ state }))).toEqual({ kind: 'wait', why: 'not-active' });
  });

  test('admits the first wave, then waits for it to finish, then opens the next', () => {
    expect(decide(policy(), snapshot())).toEqual({ kind: 'admit', count: 2, wave: 0 });
    expect(decide(policy(), snapshot({ admitted: 2, finished: 1 }))).toEqual({ kind: 'wait', why: 'wave-in-progress' });
    expect(decide(policy(), snapshot({ admitted: 2, finished: 2 }))).toEqual({ kind: 'next-wave', wave: 1 });
    expect(decide(policy(), snapshot({ wave: 1, admitted: 2, finished: 2 }))).toEqual({ kind: 'admit', count: 8, wave: 1 });
    expect(decide(policy(), snapshot({ wave: 1, admitted: 10, finished: 10 }))).toEqual({ kind: 'next-wave', wave: 2 });
    expect(decide(policy(), snapshot({ wave: 2, admitted: 10, finished: 10 }))).toEqual({ kind: 'admit', count: 10, wave: 2 });
    expect(decide(policy(), snapshot({ wave: 2, admitted: 20, finished: 3 }))).toEqual({ kind: 'wait', why: 'all-admitted' });
  });

  test('devices that join the group later are admitted in the last wave', () => {
    expect(decide(policy(), snapshot({ wave: 2, total: 22, admitted: 20, finished: 20 }))).toEqual({ kind: 'admit', count: 2, wave: 2 });
  });

  test('the rate limit caps admissions per minute', () => {
    const p = policy({ waves: [{ percent: 100 }], maxDevicesPerMinute: 5 });
    expect(decide(p, snapshot())).toEqual({ kind: 'admit', count: 5, wave: 0 });
    expect(decide(p, snapshot({ admitted: 5, admittedInLastMinute: 3 }))).toEqual({ kind: 'admit', count: 2, wave: 0 });
    expect(decide(p, snapshot({ admitted: 5, admittedInLastMinute: 5 }))).toEqual({ kind: 'wait', why: 'rate-limit' });
  });

  test('the failure share halts once the sample is large enough, at or above the threshold', () => {
    const p = policy({ maxFailurePercent: 50, minSample: 4 });
    expect(decide(p, snapshot({ admitted: 2, finished: 1, failed: 1 }))).toEqual({ kind: 'wait', why: 'wave-in-progress' });
    expect(decide(p, snapshot({ admitted: 4, finished: 4, failed: 1 }))).toEqual({ kind: 'next-wave', wave: 1 });
    expect(decide(p, snapshot({ admitted: 4, finished: 4, failed: 2 }))).toEqual({ kind: 'halt', reason: '2 of 4 finished devices failed (50.0 %, threshold 50 %)' });
  });

  test('crash reports halt at the threshold, before any admission', () => {
    const p = policy({ maxCrashReports: 3 });
    expect(decide(p, snapshot({ crashReports: 2 }))).toEqual({ kind: 'admit', count: 2, wave: 0 });
    expect(decide(p, snapshot({ crashReports: 3 }))).toEqual({ kind: 'halt', reason: '3 crash reports from the new images (threshold 3)' });
  });

  test('after a resume, thresholds judge only what came after the baseline', () => {
    const p = policy({ maxFailurePercent: 50, maxCrashReports: 3 });
    const halted = snapshot({ admitted: 2, finished: 2, failed: 2, crashReports: 5 });
    expect(decide(p, halted).kind).toBe('halt');
    const resumed = { ...halted, baseline: { finished: 2, failed: 2, crashReports: 5 } };
    expect(decide(p, resumed)).toEqual({ kind: 'next-wave', wave: 1 });
    expect(decide(p, { ...resumed, wave: 1, admitted: 10, finished: 4, failed: 3 })).toEqual({ kind: 'halt', reason: '1 of 2 finished devices failed (50.0 %, threshold 50 %)' });
    expect(decide(p, { ...resumed, crashReports: 8 })).toEqual({ kind: 'halt', reason: '3 crash reports from the new images (threshold 3)' });
  });
});

describe('device state from image states', () => {
  test.each([
    [[], 'INSTALLED'],
    [['INSTALLED', 'ALREADY_INSTALLED'], 'INSTALLED'],
    [['INSTALLED', 'REJECTED', 'FAILED'], 'REJECTED'],
    [['INSTALLED', 'FAILED'], 'FAILED'],
    [['INSTALLING', 'DOWNLOADING'], 'INSTALLING'],
    [['PENDING', 'DOWNLOADING'], 'DOWNLOADING'],
    [['PENDING', 'INSTALLED'], 'PENDING'],
  ] as const)('%j is %s', (images, expected) => {
    expect(deviceStateOf(images)).toBe(expected);
  });
});

describe('policy validation', () => {
  test.each([
    [{ waves: [{ percent: 10, count: 2 }] }, 'waves[0]: give percent or count'],
    [{ waves: [{}] }, 'waves[0]: give percent or count'],
    [{ waves: [{ percent: 0 }] }, 'waves[0].percent: 1..100'],
    [{ waves: [{ percent: 50 }, { percent: 20 }] }, 'waves[1]: waves are cumulative and must grow'],
    [{ waves: [{ count: 0 }] }, 'waves[0].count: at least 1'],
    [{ maxDevicesPerMinute: 0 }, 'maxDevicesPerMinute: at least 1'],
    [{ minSample: 0 }, 'minSample: at least 1'],
    [{ maxFailurePercent: 0 }, 'maxFailurePercent: more than 0, at most 100'],
    [{ maxCrashReports: 0 }, 'maxCrashReports: at least 1'],
  ] as const)('%j is refused: %s', (over, problem) => {
    expect(policyProblem(policy(over as Partial<RolloutPolicy>))).toBe(problem);
  });

  test('a sound policy passes', () => {
    expect(policyProblem(policy({ waves: [{ count: 2 }, { percent: 50 }], maxFailurePercent: 20, maxCrashReports: 5, maxDevicesPerMinute: 100 }))).toBeNull();
  });
});
