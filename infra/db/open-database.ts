/**
 * Opens the database and brings its schema up to date with the versioned migrations (never schema:update).
 * SQLite (libsql) in `<dataDir>/spheregate.db` when no URL is given, PostgreSQL for postgres:// URLs.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MikroORM } from '@mikro-orm/core';
import type { Logger } from '../../domain/shared/logger.js';
import { SQLITE_FILE_NAME, databaseKindOf, ormConfig } from './orm-config.js';
import { redactDatabaseUrl } from './postgres-admin.js';

export interface OpenDatabaseOptions {
  /** null: embedded SQLite; postgres:// or postgresql://: PostgreSQL. */
  readonly databaseUrl: string | null;
  /** Where the SQLite file lives (created if missing). */
  readonly dataDir: string;
  readonly log: Logger;
}

export async function openDatabase(opts: OpenDatabaseOptions): Promise<MikroORM> {
  const kind = databaseKindOf(opts.databaseUrl);
  if (kind === 'sqlite') await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
  const where = opts.databaseUrl ? redactDatabaseUrl(opts.databaseUrl) : join(opts.dataDir, SQLITE_FILE_NAME);
  const cannotConnect = (reason: string, cause: unknown): Error =>
    new Error(`Cannot connect to ${kind} at ${where}: ${reason}`, { cause });
  let orm: MikroORM;
  try {
    orm = await MikroORM.init(ormConfig(opts));
  } catch (e) {
    // The PostgreSQL driver connects (and fails) inside init already.
    throw cannotConnect(e instanceof Error ? e.message : String(e), e);
  }
  try {
    const check = await orm.checkConnection();
    if (!check.ok) throw cannotConnect(check.reason ?? 'unknown reason', check.error);
    if (kind === 'sqlite') await tuneSqlite(orm);
    const applied = await orm.getMigrator().up();
    opts.log.info({ kind, migrationsApplied: applied.length }, 'database ready');
    return orm;
  } catch (e) {
    await orm.close(true);
    throw e;
  }
}

async function tuneSqlite(orm: MikroORM): Promise<void> {
  // WAL lets readers (GraphQL queries) run while the broker writes presence. It is kept in the file; the
  // per-connection settings are made as the pool opens each connection (orm-config.ts).
  await orm.em.fork().getConnection().execute('pragma journal_mode = wal');
}
