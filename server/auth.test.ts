import type { TenancyService } from '../domain/services.js';
import type { Actor } from '../domain/shared/actor.js';
import { authenticate, credentialFromAuthorizationHeader, credentialFromConnectionParams, credentialRechecker, sharedCredentialRechecks } from './auth.js';

const reader: Actor = { kind: 'user', tenantId: 't1', role: 'Reader', apiKeyId: 'k1' };

/** Only authenticate() matters here; the rest of the port is never called. */
function tenancyWith(valid: Set<string>, calls: string[] = []): TenancyService {
  const unused = (): never => {
    throw new Error('not used');
  };
  return {
    authenticate: async (token) => {
      calls.push(token);
      return valid.has(token) ? reader : null;
    },
    createTenant: unused,
    currentTenant: unused,
    createApiKey: unused,
    revokeApiKey: unused,
    listApiKeys: unused,
  };
}

describe('reading credentials', () => {
  test('Authorization: a bearer token, no header, or something malformed', () => {
    expect(credentialFromAuthorizationHeader('Bearer sgk_abc')).toEqual({ kind: 'token', token: 'sgk_abc' });
    expect(credentialFromAuthorizationHeader('bearer   sgk_abc ')).toEqual({ kind: 'token', token: 'sgk_abc' });
    expect(credentialFromAuthorizationHeader(undefined)).toEqual({ kind: 'none' });
    expect(credentialFromAuthorizationHeader('Basic dXNlcjpwdw==')).toEqual({ kind: 'malformed' });
    expect(credentialFromAuthorizationHeader('Bearer')).toEqual({ kind: 'malformed' });
    expect(credentialFromAuthorizationHeader('Bearer a b')).toEqual({ kind: 'malformed' });
  });

  test('connection_init: authorization or apiKey, never both', () => {
    expect(credentialFromConnectionParams({ authorization: 'Bearer k' })).toEqual({ kind: 'token', token: 'k' });
    expect(credentialFromConnectionParams({ apiKey: 'k' })).toEqual({ kind: 'token', token: 'k' });
    expect(credentialFromConnectionParams(undefined)).toEqual({ kind: 'none' });
    expect(credentialFromConnectionParams({})).toEqual({ kind: 'none' });
    expect(credentialFromConnectionParams({ apiKey: 42 })).toEqual({ kind: 'malformed' });
    expect(credentialFromConnectionParams({ authorization: 'Bearer k', apiKey: 'k' })).toEqual({ kind: 'malformed' });
  });

  test('a malformed credential is refused without a lookup; a missing one is anonymous', async () => {
    const calls: string[] = [];
    const tenancy = tenancyWith(new Set(['good']), calls);
    expect(await authenticate(tenancy, { kind: 'malformed' })).toEqual({ status: 'refused' });
    expect(await authenticate(tenancy, { kind: 'none' })).toEqual({ status: 'anonymous' });
    expect(await authenticate(tenancy, { kind: 'token', token: 'bad' })).toEqual({ status: 'refused' });
    expect(await authenticate(tenancy, { kind: 'token', token: 'good' })).toEqual({ status: 'authenticated', actor: reader, token: 'good' });
    expect(calls).toEqual(['bad', 'good']);
  });
});

describe('credentialRechecker: a live subscription asking again', () => {
  test('asks the domain at most once per interval, and a revocation is final', async () => {
    const valid = new Set(['k']);
    const calls: string[] = [];
    let now = 0;
    const recheck = credentialRechecker(tenancyWith(valid, calls), 'k', 1000, () => now);
    expect(await recheck()).toBe(true);
    expect(calls).toHaveLength(0); // checked at connection time
    now = 1500;
    expect(await recheck()).toBe(true);
    expect(calls).toHaveLength(1);
    valid.delete('k');
    now = 1600;
    expect(await recheck()).toBe(true); // within the interval: not asked yet
    now = 2600;
    expect(await recheck()).toBe(false);
    valid.add('k');
    now = 9000;
    expect(await recheck()).toBe(false);
    expect(calls).toHaveLength(2);
  });

  test('answers without a promise when it needs no lookup (it runs before every delivery of a fan-out)', async () => {
    const valid = new Set(['k']);
    let now = 0;
    const recheck = credentialRechecker(tenancyWith(valid, []), 'k', 1000, () => now);
    expect(recheck()).toBe(true);
    now = 1500;
    valid.delete('k');
    const asked = recheck();
    expect(asked).toBeInstanceOf(Promise);
    expect(await asked).toBe(false);
    expect(recheck()).toBe(false);
  });

  test('with interval 0 it asks every time, and concurrent asks share one lookup', async () => {
    const calls: string[] = [];
    const recheck = credentialRechecker(tenancyWith(new Set(['k']), calls), 'k', 0);
    await Promise.all([recheck(), recheck(), recheck()]);
    expect(calls).toHaveLength(1);
    await recheck();
    expect(calls).toHaveLength(2);
  });
});

describe('sharedCredentialRechecks: sockets presenting the same key', () => {
  test('ask the domain once per interval between them; a revocation reaches every holder; the last release forgets the key', async () => {
    const valid = new Set(['k', 'other']);
    const calls: string[] = [];
    let now = 0;
    const shared = sharedCredentialRechecks(tenancyWith(valid, calls), 1000, () => now);
    const first = shared.acquire('k');
    const second = shared.acquire('k');
    const third = shared.acquire('other');
    expect(shared.size).toBe(2);
    now = 1500;
    expect(await Promise.all([first.recheck(), second.recheck(), first.recheck()])).toEqual([true, true, true]);
    expect(calls).toEqual(['k']);
    valid.delete('k');
    now = 3000;
    expect(await second.recheck()).toBe(false);
    expect(await first.recheck()).toBe(false);
    expect(await third.recheck()).toBe(true);
    expect(calls).toEqual(['k', 'k', 'other']);
    first.release();
    first.release(); // twice is harmless
    expect(shared.size).toBe(2);
    second.release();
    third.release();
    expect(shared.size).toBe(0);
  });
});
