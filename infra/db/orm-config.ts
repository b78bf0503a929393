/**
 * The ORM configuration for both drivers, shared by openDatabase (production), the migration generator and the
 * schema-diff test, so they can never disagree about the entities or the migrations.
 */
import { join } from 'node:path';
import { type Options } from '@mikro-orm/core';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { ENTITIES } from '../../domain/entities.js';
import { StatementCachingLibSqlDriver } from './libsql-statements.js';
import type { Logger } from '../../domain/shared/logger.js';
import { SQLITE_MIGRATIONS } from './migrations/sqlite/index.js';
import { POSTGRESQL_MIGRATIONS } from './migrations/postgresql/index.js';

export type DatabaseKind = 'sqlite' | 'postgresql';

export const SQLITE_FILE_NAME = 'spheregate.db';

/** null: the embedded SQLite file; postgres:// or postgresql://: PostgreSQL. Anything else is a configuration error. */
export function databaseKindOf(databaseUrl: string | null): DatabaseKind {
  if (databaseUrl === null) return 'sqlite';
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) return 'postgresql';
  throw new Error('DATABASE_URL must start with postgres:// or postgresql://');
}

/** The part of a libsql connection the settings need. */
interface LibSqlRawConnection {
  exec(sql: string): unknown;
}

/**
 * busy_timeout makes a writer wait for the lock instead of failing with SQLITE_BUSY; foreign_keys has SQLite enforce
 * the schema's references. (WAL mode is a property of the file: open-database sets it once.)
 */
function sqliteConnectionSettings(connection: LibSqlRawConnection, done: (error: Error | null, connection: LibSqlRawConnection) => void): void {
  try {
    connection.exec('pragma busy_timeout = 5000; pragma foreign_keys = on');
    done(null, connection);
  } catch (e) {
    done(e instanceof Error ? e : new Error(String(e)), connection);
  }
}

export interface OrmConfigInput {
  readonly databaseUrl: string | null;
  readonly dataDir: string;
  readonly log: Logger;
}

export function ormConfig({ databaseUrl, dataDir, log }: OrmConfigInput): Options {
  const kind = databaseKindOf(databaseUrl);
  const common: Options = {
    entities: [...ENTITIES],
    // One unit of work per request or message: a query on the global EntityManager is a bug, so it throws.
    allowGlobalContext: false,
    extensions: [Migrator],
    debug: false,
    // MikroORM's own log lines (discovery, migrations) go to ours at debug level; queries are not logged.
    logger: (message: string) => log.debug({ orm: true }, message),
    schemaGenerator: { disableForeignKeys: false },
  };
  if (kind === 'sqlite') {
    return {
      ...common,
      // LibSqlDriver, but plain reads run as cached prepared statements (libsql-statements.ts).
      driver: StatementCachingLibSqlDriver,
      dbName: join(dataDir, SQLITE_FILE_NAME),
      // Per-connection settings go on every connection the pool makes: knex's libsql dialect replaces a connection
      // older than 10 s when it is next acquired, and a setting made once, on the first, would be lost with it.
      pool: { afterCreate: sqliteConnectionSettings },
      migrations: { migrationsList: [...SQLITE_MIGRATIONS], transactional: true, allOrNothing: true, snapshot: false },
    };
  }
  return {
    ...common,
    driver: PostgreSqlDriver,
    clientUrl: databaseUrl ?? undefined,
    migrations: { migrationsList: [...POSTGRESQL_MIGRATIONS], transactional: true, allOrNothing: true, snapshot: false },
  };
}
