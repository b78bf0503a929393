import type { DomainEvent } from '../../domain/events/events.js';
import { MemoryEventBus } from '../../infra/events/memory-event-bus.js';
import { countingBus, recordingLogger } from '../test-support/recording.js';
import { FanOut } from './connection-bus.js';

const event = (connectionSeq: number): DomainEvent => ({
  type: 'DeviceStatusChanged',
  tenantId: 't1',
  deviceId: 'A',
  online: true,
  connectionSeq,
  at: new Date(0).toISOString(),
  productId: null,
  deviceGroupId: null,
});
const seq = (e: DomainEvent): number => (e.type === 'DeviceStatusChanged' ? e.connectionSeq : -1);

describe("FanOut: the bus as a graphql-ws server's connections see it", () => {
  let inner: MemoryEventBus;
  let bus: ReturnType<typeof countingBus>;
  beforeEach(() => {
    inner = new MemoryEventBus();
    bus = countingBus(inner);
  });
  afterEach(async () => {
    await inner.close();
  });

  test('holds one handler on the bus while any connection has a subscription, none otherwise', () => {
    const fanOut = new FanOut(bus);
    const a = fanOut.connection(recordingLogger());
    const b = fanOut.connection(recordingLogger());
    expect(bus.handlers).toBe(0);
    const stopA1 = a.subscribe(() => undefined);
    const stopA2 = a.subscribe(() => undefined);
    const stopB = b.subscribe(() => undefined);
    expect(bus.handlers).toBe(1);
    stopA1();
    stopA2();
    expect(bus.handlers).toBe(1);
    stopB();
    expect(bus.handlers).toBe(0);
    b.subscribe(() => undefined);
    expect(bus.handlers).toBe(1);
    void b.close();
    expect(bus.handlers).toBe(0);
  });

  test("hands an event to one connection's subscriptions together, before the next connection's", async () => {
    const fanOut = new FanOut(bus);
    const order: string[] = [];
    const a = fanOut.connection(recordingLogger());
    const b = fanOut.connection(recordingLogger());
    // Subscribed interleaved, as sockets' subscribe messages arrive.
    a.subscribe(() => order.push('a1'));
    b.subscribe(() => order.push('b1'));
    a.subscribe(() => order.push('a2'));
    b.subscribe(() => order.push('b2'));
    await bus.publish(event(1));
    expect(order).toEqual(['a1', 'a2', 'b1', 'b2']);
  });

  test('a connection that closes gets nothing more; one that subscribes later gets later events only', async () => {
    const fanOut = new FanOut(bus);
    const got: Record<string, number[]> = { first: [], closing: [], late: [] };
    fanOut.connection(recordingLogger()).subscribe((e) => got.first?.push(seq(e)));
    const closing = fanOut.connection(recordingLogger());
    closing.subscribe((e) => got.closing?.push(seq(e)));
    await bus.publish(event(1));
    void closing.close();
    fanOut.connection(recordingLogger()).subscribe((e) => got.late?.push(seq(e)));
    await bus.publish(event(2));
    expect(got).toEqual({ first: [1, 2], closing: [1], late: [2] });
  });

  test('a throwing subscription is logged and does not starve the others', async () => {
    const log = recordingLogger();
    const fanOut = new FanOut(bus);
    const connection = fanOut.connection(log);
    const got: number[] = [];
    connection.subscribe(() => {
      throw new Error('broken');
    });
    connection.subscribe((e) => got.push(seq(e)));
    await bus.publish(event(1));
    expect(got).toEqual([1]);
    expect(log.entries.filter((e) => e.level === 'error')).toHaveLength(1);
  });
});
