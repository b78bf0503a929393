/**
 * Turns what a caller presents (an `Authorization` header, or graphql-ws `connection_init` params) into an actor.
 * The token is never logged; only a subscription's re-check closure keeps it (to ask again later).
 */
import type { TenancyService } from '../domain/services.js';
import type { Actor } from '../domain/shared/actor.js';

/** What the caller presented, before any lookup. */
export type Credential =
  | { readonly kind: 'none' }
  | { readonly kind: 'token'; readonly token: string }
  /** Something was sent but it is not a usable bearer token: refused like an unknown key. */
  | { readonly kind: 'malformed' };

export type Authentication =
  | { readonly status: 'anonymous' }
  | { readonly status: 'authenticated'; readonly actor: Actor; readonly token: string }
  | { readonly status: 'refused' };

const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;

export function credentialFromAuthorizationHeader(header: string | readonly string[] | undefined): Credential {
  if (header === undefined) return { kind: 'none' };
  if (typeof header !== 'string') return { kind: 'malformed' }; // repeated header: ambiguous, refuse
  if (header.trim() === '') return { kind: 'none' };
  const m = BEARER.exec(header);
  return m?.[1] ? { kind: 'token', token: m[1] } : { kind: 'malformed' };
}

/** graphql-ws `connection_init` payload: `{ authorization: 'Bearer …' }` or `{ apiKey: '…' }`. */
export function credentialFromConnectionParams(params: Readonly<Record<string, unknown>> | undefined): Credential {
  if (!params) return { kind: 'none' };
  const { authorization, apiKey } = params;
  if (authorization !== undefined && apiKey !== undefined) return { kind: 'malformed' };
  if (typeof authorization === 'string') return credentialFromAuthorizationHeader(authorization);
  if (typeof apiKey === 'string') return apiKey.trim() ? { kind: 'token', token: apiKey.trim() } : { kind: 'malformed' };
  if (authorization !== undefined || apiKey !== undefined) return { kind: 'malformed' };
  return { kind: 'none' };
}

export async function authenticate(tenancy: TenancyService, credential: Credential): Promise<Authentication> {
  switch (credential.kind) {
    case 'none':
      return { status: 'anonymous' };
    case 'malformed':
      return { status: 'refused' };
    case 'token': {
      const actor = await tenancy.authenticate(credential.token);
      return actor ? { status: 'authenticated', actor, token: credential.token } : { status: 'refused' };
    }
  }
}

/**
 * A re-check of a token with a short memory: a long-lived subscription asks before each event, but the database
 * is asked at most once per `intervalMs` (0: every time). Concurrent asks share one lookup. An answer that needs
 * no lookup comes at once, not as a promise (it is asked before every delivery of a fan-out).
 */
export function credentialRechecker(tenancy: TenancyService, token: string, intervalMs: number, now: () => number = Date.now): () => boolean | Promise<boolean> {
  let checkedAt = now();
  let valid = true;
  let inFlight: Promise<boolean> | null = null;
  return () => {
    if (!valid) return false; // revocation is final: never un-revoke from a stale answer
    if (intervalMs > 0 && now() - checkedAt < intervalMs) return true;
    inFlight ??= tenancy
      .authenticate(token)
      .then((actor) => {
        checkedAt = now();
        valid = actor !== null;
        return valid;
      })
      .finally(() => {
        inFlight = null;
      });
    return inFlight;
  };
}

export interface SharedRechecks {
  /** The re-check for `token`, shared with every other holder of the same token; call release() when done. */
  acquire(token: string): { readonly recheck: () => boolean | Promise<boolean>; release(): void };
  /** Tokens currently held (for tests). */
  readonly size: number;
}

/**
 * credentialRechecker shared by every socket presenting the same key: between them they ask the database at most
 * once per `intervalMs`. Per socket, a hundred sockets opened together with one key would each re-check in the
 * same instant, in the middle of delivering one event. A token is forgotten when its last socket releases it.
 */
export function sharedCredentialRechecks(tenancy: TenancyService, intervalMs: number, now: () => number = Date.now): SharedRechecks {
  const held = new Map<string, { recheck: () => boolean | Promise<boolean>; holders: number }>();
  return {
    acquire(token) {
      let entry = held.get(token);
      if (!entry) held.set(token, (entry = { recheck: credentialRechecker(tenancy, token, intervalMs, now), holders: 0 }));
      entry.holders++;
      const mine = entry;
      let released = false;
      return {
        recheck: mine.recheck,
        release() {
          if (released) return;
          released = true;
          if (--mine.holders === 0 && held.get(token) === mine) held.delete(token);
        },
      };
    },
    get size() {
      return held.size;
    },
  };
}
