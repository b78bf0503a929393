import { UniqueConstraintViolationException, type EntityManager, type Transaction } from '@mikro-orm/core';

/** A unique index refused the write: the name or ID is taken (possibly by a concurrent call that won the race). */
export const isUniqueViolation = (e: unknown): boolean => e instanceof UniqueConstraintViolationException;

/** `?, ?, ?` for an `IN (...)` list of `count` bound values. */
export const placeholders = (count: number): string => Array.from({ length: count }, () => '?').join(', ');

/** Splits a list into chunks, to keep `IN (...)` lists and parameter counts well under driver limits. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** One plain SQL statement and its bound values. */
export interface SqlStatement {
  readonly sql: string;
  readonly params: readonly unknown[];
}

/**
 * Runs a batch's statements together: several in one transaction, a lone one on its own (it is its own transaction).
 * With 'all', returns the rows they answered (an `UPDATE ... RETURNING`), in order; with 'run', nothing.
 */
export async function executeTogether<R>(em: EntityManager, statements: readonly SqlStatement[], method: 'all' | 'run' = 'all'): Promise<R[]> {
  const connection = em.getConnection();
  const run = async (ctx?: Transaction): Promise<R[]> => {
    const rows: R[] = [];
    for (const { sql, params } of statements) {
      const answered: unknown = await connection.execute(sql, [...params], method, ctx);
      if (method === 'all') rows.push(...(answered as R[]));
    }
    return rows;
  };
  if (statements.length === 0) return [];
  return statements.length === 1 ? run() : connection.transactional((trx) => run(trx));
}
