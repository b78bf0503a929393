/**
 * Tenant API keys this node verified moments ago. Every GraphQL request presents its key, and a client sends many
 * requests with one key; remembering a verified key for `ttlMs` turns those into one database read per key per
 * `ttlMs`. Only keys that verified are kept (an unknown or wrong token always reaches the database), under the
 * SHA-256 of the token, never the token itself.
 *
 * Revocation on this node forgets the key at once, and a lookup that was already running when it happened cannot
 * put it back (generations). A revocation made on another node is seen here within `ttlMs`.
 */
import type { UserActor } from '../shared/actor.js';

export const VERIFIED_KEY_TTL_MS = 2000;
/** Beyond this many keys the oldest are dropped: memory stays bounded whatever callers send. */
export const VERIFIED_KEY_CAPACITY = 10_000;

interface Entry {
  readonly actor: UserActor;
  readonly until: number;
}

export class VerifiedKeys {
  readonly #entries = new Map<string, Entry>();
  #generation = 0;

  constructor(
    private readonly ttlMs: number = VERIFIED_KEY_TTL_MS,
    private readonly capacity: number = VERIFIED_KEY_CAPACITY,
  ) {}

  /** The actor of a token verified less than `ttlMs` ago, or null (look it up). */
  get(tokenHash: string, now: number): UserActor | null {
    const entry = this.#entries.get(tokenHash);
    if (!entry) return null;
    if (entry.until > now) return entry.actor;
    this.#entries.delete(tokenHash);
    return null;
  }

  /** Take before looking a key up; hand it to remember(). */
  get generation(): number {
    return this.#generation;
  }

  /** Keeps a key that verified, unless a key was forgotten since its lookup began (it may be that one). */
  remember(tokenHash: string, actor: UserActor, now: number, generationAtLookup: number): void {
    if (this.ttlMs <= 0 || generationAtLookup !== this.#generation) return;
    this.#entries.delete(tokenHash); // re-inserted last: the Map's order is the order of expiry
    this.#entries.set(tokenHash, { actor, until: now + this.ttlMs });
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.capacity) break;
      this.#entries.delete(oldest);
    }
  }

  /** The key was revoked here: no request after this call is let in on a remembered verification. */
  forget(apiKeyId: string): void {
    this.#generation++;
    for (const [hash, entry] of this.#entries) if (entry.actor.apiKeyId === apiKeyId) this.#entries.delete(hash);
  }

  get size(): number {
    return this.#entries.size;
  }
}
