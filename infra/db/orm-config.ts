/**
 * The ORM configuration for both drivers, shared by openDatabase (production), the migration generator and the
 * schema-diff test, so they can never disagree about the entities or the migrations.
 */
import { join } from 'node:path';
import { type Options } from '@mikro-orm/core';
import { LibSqlDriver } from '@mikro-orm/libsql';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { ENTITIES } from '../../domain/entities.js';
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
      driver: LibSqlDriver,
      dbName: join(dataDir, SQLITE_FILE_NAME),
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
