import type { UserActor } from '../../domain/shared/actor.js';
import { VerifiedKeys } from '../../domain/tenancy/verified-keys.js';

const actor = (apiKeyId: string): UserActor => ({ kind: 'user', tenantId: 't1', role: 'Reader', apiKeyId });

describe('VerifiedKeys: keys this node verified moments ago', () => {
  test('remembers a verified key for its lifetime only', () => {
    const keys = new VerifiedKeys(1000);
    keys.remember('h1', actor('k1'), 0, keys.generation);
    expect(keys.get('h1', 999)).toEqual(actor('k1'));
    expect(keys.get('h1', 1000)).toBeNull();
    expect(keys.size).toBe(0);
  });

  test('forgetting a key drops it at once, and a lookup begun before cannot put it back', () => {
    const keys = new VerifiedKeys(1000);
    keys.remember('h1', actor('k1'), 0, keys.generation);
    keys.remember('h2', actor('k2'), 0, keys.generation);
    const lookupBegan = keys.generation;
    keys.forget('k1');
    expect(keys.get('h1', 1)).toBeNull();
    expect(keys.get('h2', 1)).toEqual(actor('k2'));
    keys.remember('h1', actor('k1'), 2, lookupBegan);
    expect(keys.get('h1', 3)).toBeNull();
  });

  test('stays within its capacity, dropping the oldest', () => {
    const keys = new VerifiedKeys(1000, 2);
    for (const n of [1, 2, 3]) keys.remember(`h${n}`, actor(`k${n}`), n, keys.generation);
    expect(keys.size).toBe(2);
    expect(keys.get('h1', 4)).toBeNull();
    expect(keys.get('h3', 4)).toEqual(actor('k3'));
  });
});
