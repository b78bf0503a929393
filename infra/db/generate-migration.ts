/**
 * Writes the next migration for each driver from MikroORM's own schema generator: it migrates a fresh database
 * with the migrations we already have, diffs it against the entity metadata, and writes the difference as a
 * TypeScript Migration class plus a regenerated index.ts (migrations are imported explicitly, never globbed, so
 * they run the same in Jest and from dist/).
 *
 * Run by hand from the repository root after changing an entity (Node 20 cannot run TypeScript directly):
 *   npx tsc -p tsconfig.build.json && node dist/infra/db/generate-migration.js <name> [sqlite|postgresql ...]
 * PostgreSQL is reached at SPHEREGATE_PG_ADMIN_URL (default postgres://root@127.0.0.1:5432/test), where a
 * scratch database is created and dropped.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/core';
import { silentLogger } from '../../domain/shared/logger.js';
import type { DatabaseKind } from './orm-config.js';
import { openDatabase } from './open-database.js';
import { createPostgresDatabase, dropPostgresDatabase, withDatabaseName } from './postgres-admin.js';

export const DEFAULT_PG_ADMIN_URL = 'postgres://root@127.0.0.1:5432/test';

const INDEX_EXPORT: Record<DatabaseKind, string> = { sqlite: 'SQLITE_MIGRATIONS', postgresql: 'POSTGRESQL_MIGRATIONS' };

export interface SchemaDiff {
  readonly up: readonly string[];
  readonly down: readonly string[];
}

/** The SQL that would bring a freshly migrated database of this kind to the entity metadata. */
export async function pendingSchemaDiff(kind: DatabaseKind, pgAdminUrl = DEFAULT_PG_ADMIN_URL): Promise<SchemaDiff> {
  return withScratchDatabase(kind, pgAdminUrl, async (orm) => {
    const diff = await orm.schema.getUpdateSchemaMigrationSQL({ wrap: false, safe: false, dropTables: true });
    return { up: statements(diff.up), down: statements(diff.down) };
  });
}

/** Writes the migration file and the index; returns the file written, or null when the schema is up to date. */
export async function generateMigration(opts: {
  readonly kind: DatabaseKind;
  readonly name: string;
  readonly migrationsRoot: string;
  readonly now?: Date;
  readonly pgAdminUrl?: string;
}): Promise<string | null> {
  if (!/^[a-z][a-z0-9_]*$/i.test(opts.name)) throw new Error('migration name: letters, digits and _ only');
  const diff = await pendingSchemaDiff(opts.kind, opts.pgAdminUrl);
  if (diff.up.length === 0) return null;
  const stamp = (opts.now ?? new Date()).toISOString().replace(/\D/g, '').slice(0, 14);
  const className = `Migration${stamp}_${opts.name}`;
  const dir = join(opts.migrationsRoot, opts.kind);
  const file = join(dir, `${className}.ts`);
  await writeFile(file, migrationSource(className, opts.kind, diff), 'utf8');
  await writeFile(join(dir, 'index.ts'), await indexSource(dir, opts.kind), 'utf8');
  return file;
}

async function withScratchDatabase<T>(kind: DatabaseKind, pgAdminUrl: string, work: (orm: MikroORM) => Promise<T>): Promise<T> {
  const dataDir = await mkdtemp(join(tmpdir(), 'spheregate-migration-'));
  const pgName = `sg_migration_${randomBytes(6).toString('hex')}`;
  let databaseUrl: string | null = null;
  if (kind === 'postgresql') {
    await createPostgresDatabase(pgAdminUrl, pgName);
    databaseUrl = withDatabaseName(pgAdminUrl, pgName);
  }
  try {
    const orm = await openDatabase({ databaseUrl, dataDir, log: silentLogger });
    try {
      return await work(orm);
    } finally {
      await orm.close(true);
    }
  } finally {
    if (kind === 'postgresql') await dropPostgresDatabase(pgAdminUrl, pgName);
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** MikroORM prints one statement per line; blank lines separate tables. */
const statements = (sql: string): string[] =>
  sql
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);

/** A TypeScript string literal for SQL that may hold ', " and ` (SQLite quotes identifiers with backticks). */
function literal(sql: string): string {
  if (!sql.includes("'") && !sql.includes('\\')) return `'${sql}'`;
  return JSON.stringify(sql);
}

function migrationSource(className: string, kind: DatabaseKind, diff: SchemaDiff): string {
  const lines = (sqls: readonly string[]): string =>
    sqls.length > 0
      ? sqls.map((s) => `    this.addSql(${literal(s)});`).join('\n')
      : `    // MikroORM derives no down migration for ${kind} here: restore a backup to go back.`;
  return `import { Migration } from '@mikro-orm/migrations';

/** Generated for ${kind} by infra/db/generate-migration.ts from the entity metadata. Do not edit once released. */
export class ${className} extends Migration {
  override up(): void {
${lines(diff.up)}
  }

  override down(): void {
${lines(diff.down)}
  }
}
`;
}

async function indexSource(dir: string, kind: DatabaseKind): Promise<string> {
  const classes = (await readdir(dir))
    .filter((f) => /^Migration\d{14}_\w+\.ts$/.test(f))
    .map((f) => f.slice(0, -'.ts'.length))
    .sort();
  return `/** Generated by infra/db/generate-migration.ts: every ${kind} migration, oldest first. */
import type { MigrationObject } from '@mikro-orm/core';
${classes.map((c) => `import { ${c} } from './${c}.js';`).join('\n')}

export const ${INDEX_EXPORT[kind]}: readonly MigrationObject[] = [
${classes.map((c) => `  { name: '${c}', class: ${c} },`).join('\n')}
];
`;
}

async function main(argv: readonly string[]): Promise<void> {
  const [name, ...kinds] = argv;
  if (!name) throw new Error('usage: generate-migration <name> [sqlite|postgresql ...]');
  const selected = (kinds.length > 0 ? kinds : ['sqlite', 'postgresql']).map((k) => {
    if (k !== 'sqlite' && k !== 'postgresql') throw new Error(`unknown database kind: ${k}`);
    return k;
  });
  const pgAdminUrl = process.env['SPHEREGATE_PG_ADMIN_URL'] ?? DEFAULT_PG_ADMIN_URL;
  const now = new Date();
  for (const kind of selected) {
    const file = await generateMigration({ kind, name, migrationsRoot: resolve('infra/db/migrations'), now, pgAdminUrl });
    process.stdout.write(file ? `${kind}: wrote ${file}\n` : `${kind}: schema is up to date\n`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
