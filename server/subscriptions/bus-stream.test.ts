import type { DeviceStatusChanged, DomainEvent } from '../../domain/events/events.js';
import { MemoryEventBus } from '../../infra/events/memory-event-bus.js';
import { recordingLogger } from '../test-support/recording.js';
import { BusStream } from './bus-stream.js';
import { deviceStatusMatcher } from './device-status-filter.js';

const event = (deviceId: string, seq: number, over: Partial<DeviceStatusChanged> = {}): DeviceStatusChanged => ({
  type: 'DeviceStatusChanged',
  tenantId: 't1',
  deviceId,
  online: true,
  connectionSeq: seq,
  at: new Date(0).toISOString(),
  productId: null,
  deviceGroupId: null,
  ...over,
});

const warnings = (log: ReturnType<typeof recordingLogger>): Array<Record<string, unknown>> =>
  log.entries.filter((e) => e.level === 'warn').map((e) => e.fields);

/** These tests publish DeviceStatusChanged events only; their sequence tells them apart. */
const seq = (e: DomainEvent): number | null => (e.type === 'DeviceStatusChanged' ? e.connectionSeq : null);
const seqOf = (r: IteratorResult<DomainEvent, undefined>): number | null => (r.done ? null : seq(r.value));

describe('BusStream: the bounded buffer between the bus and one subscriber', () => {
  let bus: MemoryEventBus;
  beforeEach(() => {
    bus = new MemoryEventBus();
  });
  afterEach(async () => {
    await bus.close();
  });

  test('delivers selected events in order, to a reader that waits and to one that lags', async () => {
    const stream = new BusStream<DomainEvent>(bus, { select: (e) => ('deviceId' in e && e.deviceId === 'A' ? e : null), log: recordingLogger() });
    const waiting = stream.next();
    await bus.publish(event('A', 1));
    expect(seqOf(await waiting)).toBe(1);
    await bus.publish(event('B', 2));
    await bus.publish(event('A', 3));
    await bus.publish(event('A', 4));
    expect([seqOf(await stream.next()), seqOf(await stream.next())]).toEqual([3, 4]);
    await stream.return();
  });

  test('when a slow subscriber overflows, the oldest events are dropped and it is logged once per burst', async () => {
    const log = recordingLogger();
    const stream = new BusStream<DomainEvent>(bus, { select: (e) => e, capacity: 3, log });
    for (let i = 1; i <= 10; i++) await bus.publish(event('A', i));
    expect(stream.buffered).toBe(3);
    expect(warnings(log)).toEqual([{ capacity: 3 }]);
    const got = [seqOf(await stream.next()), seqOf(await stream.next()), seqOf(await stream.next())];
    expect(got).toEqual([8, 9, 10]);
    expect(warnings(log)).toEqual([{ capacity: 3 }, { dropped: 7 }]);
    await stream.return();
  });

  test('return() ends a pending next() at once and unsubscribes from the bus', async () => {
    const stream = new BusStream<DomainEvent>(bus, { select: (e) => e, log: recordingLogger() });
    const pending = stream.next();
    await stream.return();
    await expect(pending).resolves.toEqual({ done: true, value: undefined });
    await bus.publish(event('A', 1));
    expect(stream.buffered).toBe(0);
    await expect(stream.next()).resolves.toEqual({ done: true, value: undefined });
    expect(stream.closed).toBe(true);
  });

  test('a failing beforeDeliver ends the stream with its error', async () => {
    const stream = new BusStream<DomainEvent>(bus, {
      select: (e) => e,
      log: recordingLogger(),
      beforeDeliver: async (e) => {
        if (seq(e) === 2) throw new Error('revoked');
      },
    });
    await bus.publish(event('A', 1));
    await bus.publish(event('A', 2));
    await bus.publish(event('A', 3));
    expect(seqOf(await stream.next())).toBe(1);
    await expect(stream.next()).rejects.toThrow('revoked');
    expect(stream.closed).toBe(true);
    await expect(stream.next()).resolves.toEqual({ done: true, value: undefined });
  });

  test('a beforeDeliver that decides at once: nothing to wait for, and a throw ends the stream with its error', async () => {
    const stream = new BusStream<DomainEvent>(bus, {
      select: (e) => e,
      log: recordingLogger(),
      beforeDeliver: (e) => {
        if (seq(e) === 2) throw new Error('revoked');
      },
    });
    await bus.publish(event('A', 1));
    await bus.publish(event('A', 2));
    expect(seqOf(await stream.next())).toBe(1);
    await expect(stream.next()).rejects.toThrow('revoked');
    expect(stream.closed).toBe(true);
    await expect(stream.next()).resolves.toEqual({ done: true, value: undefined });
  });

  test('a throwing select skips the event without breaking the bus for others', async () => {
    const stream = new BusStream<DomainEvent>(bus, {
      select: (e) => {
        if (seq(e) === 1) throw new Error('bad filter');
        return e;
      },
      log: recordingLogger(),
    });
    await bus.publish(event('A', 1));
    await bus.publish(event('A', 2));
    expect(seqOf(await stream.next())).toBe(2);
    await stream.return();
  });

  test('works with for await, and breaking out of the loop cleans up', async () => {
    const stream = new BusStream<DomainEvent>(bus, { select: (e) => e, log: recordingLogger() });
    for (let i = 1; i <= 3; i++) await bus.publish(event('A', i));
    const seen: number[] = [];
    for await (const e of stream) {
      seen.push(seq(e) ?? -1);
      if (seen.length === 2) break;
    }
    expect(seen).toEqual([1, 2]);
    expect(stream.closed).toBe(true);
  });
});

describe('deviceStatusMatcher: which status events a subscriber sees', () => {
  test("only the subscriber's tenant, never an unclaimed device's", () => {
    const matches = deviceStatusMatcher('t1', null);
    expect(matches(event('A', 1))).toBe(true);
    expect(matches(event('A', 1, { tenantId: 't2' }))).toBe(false);
    expect(matches(event('A', 1, { tenantId: null }))).toBe(false);
  });

  test('then the optional filter: device IDs, product, group', () => {
    expect(deviceStatusMatcher('t1', { deviceIds: ['A'] })(event('B', 1))).toBe(false);
    expect(deviceStatusMatcher('t1', { deviceIds: ['A', 'B'] })(event('B', 1))).toBe(true);
    expect(deviceStatusMatcher('t1', { productId: 'p1' })(event('A', 1, { productId: 'p2' }))).toBe(false);
    expect(deviceStatusMatcher('t1', { productId: 'p1' })(event('A', 1, { productId: 'p1' }))).toBe(true);
    expect(deviceStatusMatcher('t1', { deviceGroupId: 'g1' })(event('A', 1, { deviceGroupId: null }))).toBe(false);
    // A filter naming another tenant's device still sees nothing of that tenant.
    expect(deviceStatusMatcher('t1', { deviceIds: ['A'] })(event('A', 1, { tenantId: 't2' }))).toBe(false);
  });
});
