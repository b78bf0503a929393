/**
 * A fresh, migrated database per caller: SQLite in a temp dir, or a new PostgreSQL database on the local server
 * (dropped again by dispose()). Tests run on every kind in TEST_DATABASES.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/core';
import { silentLogger } from '../domain/shared/logger.js';
import { openDatabase } from '../infra/db/open-database.js';
import { createPostgresDatabase, dropPostgresDatabase, withDatabaseName } from '../infra/db/postgres-admin.js';

export type TestDatabaseKind = 'sqlite' | 'postgresql';

export const PG_ADMIN_URL = 'postgres://root@127.0.0.1:5432/test';

/** SPHEREGATE_TEST_DATABASES=sqlite,postgresql (the default). An unknown name is an error, never ignored. */
export const TEST_DATABASES: TestDatabaseKind[] = parseKinds(process.env['SPHEREGATE_TEST_DATABASES']);

function parseKinds(value: string | undefined): TestDatabaseKind[] {
  if (value === undefined || value.trim() === '') return ['sqlite', 'postgresql'];
  const kinds = value.split(',').map((k) => k.trim()).filter((k) => k.length > 0);
  for (const k of kinds) {
    if (k !== 'sqlite' && k !== 'postgresql') throw new Error(`SPHEREGATE_TEST_DATABASES: unknown database "${k}"`);
  }
  return kinds as TestDatabaseKind[];
}

export interface TestDatabase {
  readonly orm: MikroORM;
  /** null for SQLite (the file lives in dataDir). */
  readonly databaseUrl: string | null;
  readonly dataDir: string;
  dispose(): Promise<void>;
}

export async function openTestDatabase(kind: TestDatabaseKind): Promise<TestDatabase> {
  const dataDir = await mkdtemp(join(tmpdir(), 'spheregate-test-'));
  const pgName = `sg_test_${randomBytes(8).toString('hex')}`;
  let databaseUrl: string | null = null;
  try {
    if (kind === 'postgresql') {
      await createPostgresDatabase(PG_ADMIN_URL, pgName).catch((e: unknown) => {
        // A missing server must fail loudly: a silently skipped PostgreSQL run would hide real bugs.
        const reason = e instanceof Error ? e.message : String(e);
        throw new Error(
          `PostgreSQL tests need a server at ${PG_ADMIN_URL} (trust auth, user root, database test). ` +
            `Start it, or run only SQLite with SPHEREGATE_TEST_DATABASES=sqlite. Cause: ${reason}`,
        );
      });
      databaseUrl = withDatabaseName(PG_ADMIN_URL, pgName);
    }
    const orm = await openDatabase({ databaseUrl, dataDir, log: silentLogger });
    let disposed: Promise<void> | null = null;
    const dispose = async (): Promise<void> => {
      await orm.close(true);
      if (kind === 'postgresql') await dropPostgresDatabase(PG_ADMIN_URL, pgName);
      await rm(dataDir, { recursive: true, force: true });
    };
    return { orm, databaseUrl, dataDir, dispose: () => (disposed ??= dispose()) };
  } catch (e) {
    if (databaseUrl) await dropPostgresDatabase(PG_ADMIN_URL, pgName).catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
    throw e;
  }
}
