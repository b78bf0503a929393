import { badInput } from './errors.js';

/** Cursor pagination (Relay-style connections at the GraphQL edge). Cursors are opaque to callers. */
export interface PageRequest {
  readonly first?: number | null;
  readonly after?: string | null;
}

export interface Page<T> {
  readonly items: readonly T[];
  readonly totalCount: number;
  readonly hasNextPage: boolean;
  /** Cursor of the last item, to pass as `after`. */
  readonly endCursor: string | null;
  /** Each item's cursor, when a client may resume after any item (the last one equals endCursor). */
  readonly itemCursors?: readonly string[];
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

export function pageSize(req: PageRequest): number {
  const n = req.first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE_SIZE) throw badInput('first', `must be 1..${MAX_PAGE_SIZE}`);
  return n;
}

export const encodeCursor = (key: string): string => Buffer.from(key, 'utf8').toString('base64url');
export function decodeCursor(cursor: string): string {
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!key || encodeCursor(key) !== cursor) throw badInput('after', 'malformed cursor');
  return key;
}
