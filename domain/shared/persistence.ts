import { UniqueConstraintViolationException } from '@mikro-orm/core';

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
