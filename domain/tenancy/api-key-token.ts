/**
 * API key tokens: `sgk_<key id, 32 hex>_<43 chars base64url of 32 random bytes>`. The key id lets authenticate()
 * load one row by primary key; the random part is the secret. Only sha256(token) is stored.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const TOKEN_PATTERN = /^sgk_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/;

export function newApiKeyToken(keyId: string): string {
  return `sgk_${keyId.replace(/-/g, '')}_${randomBytes(32).toString('base64url')}`;
}

export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/** The key id (as a UUID) a well-formed token names, or null. Says nothing about whether the secret is right. */
export function keyIdOfToken(token: string): string | null {
  const hex = TOKEN_PATTERN.exec(token)?.[1];
  if (!hex) return null;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Constant-time equality of two strings of any length (both are hashed first, so lengths never leak). */
export function secretsEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a, 'utf8').digest();
  const db = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(da, db);
}

/** Constant-time comparison of a presented token with a stored sha256 hex digest. */
export function tokenMatchesHash(token: string, storedHashHex: string): boolean {
  const presented = Buffer.from(hashToken(token), 'hex');
  const stored = Buffer.from(storedHashHex, 'hex');
  return stored.length === presented.length && timingSafeEqual(presented, stored);
}
