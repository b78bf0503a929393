import { eventBusSuite } from '../../domain/events/event-bus.suite.js';
import type { DomainEvent } from '../../domain/events/events.js';
import { MemoryEventBus } from './memory-event-bus.js';

eventBusSuite('memory', async () => new MemoryEventBus());

const event = (seq: number): DomainEvent => ({
  type: 'DeviceStatusChanged',
  tenantId: null,
  deviceId: 'D',
  online: true,
  connectionSeq: seq,
  at: new Date(0).toISOString(),
  productId: null,
  deviceGroupId: null,
});

const seqOf = (e: DomainEvent): number | null => (e.type === 'DeviceStatusChanged' ? e.connectionSeq : null);

describe('MemoryEventBus', () => {
  test('an event published from inside a handler reaches every subscriber after the current one', async () => {
    const bus = new MemoryEventBus();
    const a: Array<number | null> = [];
    const b: Array<number | null> = [];
    bus.subscribe((e) => {
      a.push(seqOf(e));
      if (seqOf(e) === 1) void bus.publish(event(2));
    });
    bus.subscribe((e) => b.push(seqOf(e)));
    await bus.publish(event(1));
    expect(a).toEqual([1, 2]);
    expect(b).toEqual([1, 2]);
    await bus.close();
  });

  test('after close, publishing is a no-op and nobody is called', async () => {
    const bus = new MemoryEventBus();
    const got: Array<number | null> = [];
    bus.subscribe((e) => got.push(seqOf(e)));
    await bus.close();
    await bus.publish(event(1));
    bus.subscribe((e) => got.push(seqOf(e)));
    await bus.publish(event(2));
    expect(got).toEqual([]);
  });
});
