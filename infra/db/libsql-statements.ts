/**
 * SQLite plain SQL without the ORM's per-call overhead. `connection.execute(sql, params)` inlines every parameter into
 * the SQL text (the ORM formats and escapes each value), builds a knex Raw, runs it through knex's runner and prepares
 * the resulting one-off statement; for a primary-key read (the broker's admission read, once per few connecting
 * devices) or a batch's `UPDATE ... RETURNING` (presence records) that costs several times the statement itself. Here
 * such a statement with plain parameters takes the pool's connection the same way knex does (so it never runs inside
 * someone else's transaction; on its own it is its own transaction, as through knex), runs a prepared statement kept
 * per connection with the parameters bound, and gives the connection back. Everything else (other writes, anything in
 * a transaction, other parameter types) goes the ORM's way, unchanged.
 */
import { AbstractSqlDriver, type Knex } from '@mikro-orm/knex';
import { LibSqlConnection, LibSqlPlatform } from '@mikro-orm/libsql';
import type { Configuration, Transaction } from '@mikro-orm/core';

/** What this module uses of libsql's Database and Statement. */
interface RawStatement {
  all(params: unknown[]): unknown[];
}
interface RawConnection {
  prepare(sql: string): RawStatement;
}

/** Statements kept per pooled connection (a connection the pool replaces takes its statements with it). */
const MAX_STATEMENTS = 256;

/** A `select`, or an `update` that returns rows (what the ORM's knex dialect runs with `all` too). */
const ROWS_STATEMENT = /^\s*(?:select\s|update\s[\s\S]*\sreturning\s)/i;

/**
 * A statement the ORM would run with its parameters inlined one for one: it answers rows (ROWS_STATEMENT), it is one
 * statement (no `;` that could start another), and it has one plain `?` per parameter (no `??` identifier or `\\?`
 * escape of the ORM's own placeholder syntax, no `?` the ORM would read differently from SQLite).
 */
function isPlainRowsStatement(sql: string, params: readonly unknown[]): boolean {
  if (!ROWS_STATEMENT.test(sql) || sql.includes(';') || sql.includes('??') || sql.includes('\\?')) return false;
  let marks = 0;
  for (let at = sql.indexOf('?'); at !== -1; at = sql.indexOf('?', at + 1)) marks++;
  return marks === params.length;
}

/** Parameters bound as knex's SQLite dialect binds them (a Date as epoch ms, as the ORM inlines it); null for any other kind. */
function boundParams(params: readonly unknown[]): unknown[] | null {
  const bound: unknown[] = new Array<unknown>(params.length);
  for (let i = 0; i < params.length; i++) {
    const p = params[i];
    if (typeof p === 'string' || typeof p === 'number' || typeof p === 'bigint' || p === null) bound[i] = p;
    else if (p instanceof Date) bound[i] = p.valueOf();
    else if (typeof p === 'boolean') bound[i] = Number(p);
    else return null;
  }
  return bound;
}

export class StatementCachingLibSqlConnection extends LibSqlConnection {
  private readonly statements = new WeakMap<RawConnection, Map<string, RawStatement>>();

  override async execute<T>(queryOrKnex: string | Knex.QueryBuilder | Knex.Raw, params: unknown[] = [], method: 'all' | 'get' | 'run' = 'all', ctx?: Transaction, loggerContext?: object): Promise<T> {
    const bound = typeof queryOrKnex === 'string' && method === 'all' && ctx === undefined && loggerContext === undefined && isPlainRowsStatement(queryOrKnex, params) ? boundParams(params) : null;
    if (bound === null || typeof queryOrKnex !== 'string') return super.execute(queryOrKnex, params, method, ctx, loggerContext) as Promise<T>;
    await this.ensureConnection();
    const client = this.getKnex().client as { acquireConnection(): Promise<RawConnection>; releaseConnection(c: RawConnection): Promise<unknown> };
    const raw = await client.acquireConnection();
    try {
      return this.statementOf(raw, queryOrKnex).all(bound) as T;
    } catch (e) {
      throw this.getPlatform().getExceptionConverter().convertException(e instanceof Error ? e : new Error(String(e)));
    } finally {
      await client.releaseConnection(raw);
    }
  }

  private statementOf(raw: RawConnection, sql: string): RawStatement {
    let cached = this.statements.get(raw);
    if (!cached) this.statements.set(raw, (cached = new Map()));
    let statement = cached.get(sql);
    if (!statement) {
      if (cached.size >= MAX_STATEMENTS) cached.clear();
      statement = raw.prepare(sql);
      cached.set(sql, statement);
    }
    return statement;
  }
}

/** MikroORM's LibSqlDriver, with StatementCachingLibSqlConnection for its connection. */
export class StatementCachingLibSqlDriver extends AbstractSqlDriver<StatementCachingLibSqlConnection, LibSqlPlatform> {
  constructor(config: Configuration) {
    super(config, new LibSqlPlatform(), StatementCachingLibSqlConnection, ['knex', 'libsql']);
  }
}
