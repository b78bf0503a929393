import { TouchThrottle } from './touch-throttle.js';

test('touches a device at most once per interval', () => {
  let now = 1_000_000;
  const throttle = new TouchThrottle(60_000, () => now);
  expect(throttle.shouldTouch('d')).toBe(true);
  now += 59_999;
  expect(throttle.shouldTouch('d')).toBe(false);
  now += 1;
  expect(throttle.shouldTouch('d')).toBe(true);
  expect(throttle.shouldTouch('d')).toBe(false);
});

test('devices are throttled independently', () => {
  const throttle = new TouchThrottle(60_000, () => 0);
  expect(throttle.shouldTouch('a')).toBe(true);
  expect(throttle.shouldTouch('b')).toBe(true);
  expect(throttle.shouldTouch('a')).toBe(false);
});

test('a touch recorded another way starts the interval; forgetting ends it', () => {
  let now = 0;
  const throttle = new TouchThrottle(60_000, () => now);
  throttle.markTouched('d');
  now += 30_000;
  expect(throttle.shouldTouch('d')).toBe(false);
  throttle.forget('d');
  expect(throttle.shouldTouch('d')).toBe(true);
});
