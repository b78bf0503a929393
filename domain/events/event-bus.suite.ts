import type { EventBus } from './event-bus.js';
import type { DomainEvent } from './events.js';

/**
 * One suite, many implementations (as mqemitter's abstractTest): every EventBus runs these behaviours.
 * Called from a *.test.ts file with a factory for the implementation under test.
 */
export function eventBusSuite(name: string, makeBus: () => Promise<EventBus>): void {
  const sample = (deviceId: string, seq: number): DomainEvent => ({
    type: 'DeviceStatusChanged',
    tenantId: 't1',
    deviceId,
    online: true,
    connectionSeq: seq,
    at: new Date(0).toISOString(),
    productId: null,
    deviceGroupId: null,
  });

  describe(`EventBus contract: ${name}`, () => {
    let bus: EventBus;
    beforeEach(async () => {
      bus = await makeBus();
    });
    afterEach(async () => {
      await bus.close();
    });

    const until = async (cond: () => boolean): Promise<void> => {
      for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
    };

    test('delivers a published event to every subscriber, in publish order', async () => {
      const a: DomainEvent[] = [];
      const b: DomainEvent[] = [];
      bus.subscribe((e) => a.push(e));
      bus.subscribe((e) => b.push(e));
      await bus.publish(sample('D1', 1));
      await bus.publish(sample('D1', 2));
      await until(() => a.length === 2 && b.length === 2);
      expect(a.map((e) => (e.type === 'DeviceStatusChanged' ? e.connectionSeq : null))).toEqual([1, 2]);
      expect(b).toEqual(a);
    });

    test('stops delivering after unsubscribe', async () => {
      const got: DomainEvent[] = [];
      const off = bus.subscribe((e) => got.push(e));
      await bus.publish(sample('D1', 1));
      await until(() => got.length === 1);
      off();
      await bus.publish(sample('D1', 2));
      await new Promise((r) => setTimeout(r, 50));
      expect(got).toHaveLength(1);
    });

    test('a throwing subscriber does not starve the others', async () => {
      const got: DomainEvent[] = [];
      bus.subscribe(() => {
        throw new Error('boom');
      });
      bus.subscribe((e) => got.push(e));
      await bus.publish(sample('D1', 1));
      await until(() => got.length === 1);
      expect(got).toHaveLength(1);
    });
  });
}
