/**
 * Creating and dropping whole PostgreSQL databases (the migration generator and the tests each work in a fresh
 * one). Uses MikroORM's own PostgreSQL connection, so no extra client package is needed.
 */
import { MikroORM } from '@mikro-orm/core';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';

const DATABASE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** The URL with its password, if any, replaced: safe for error messages and logs. */
export function redactDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable database URL>';
  }
}

/** The same server and credentials, another database. */
export function withDatabaseName(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function withAdminConnection<T>(adminUrl: string, work: (execute: (sql: string) => Promise<unknown>) => Promise<T>): Promise<T> {
  const unreachable = (reason: string, cause: unknown): Error =>
    new Error(`PostgreSQL is not reachable at ${redactDatabaseUrl(adminUrl)}: ${reason}`, { cause });
  let orm: MikroORM;
  try {
    orm = await MikroORM.init({
      driver: PostgreSqlDriver,
      clientUrl: adminUrl,
      entities: [],
      discovery: { warnWhenNoEntities: false },
      allowGlobalContext: false,
      pool: { min: 0, max: 1 },
    });
  } catch (e) {
    throw unreachable(e instanceof Error ? e.message : String(e), e);
  }
  try {
    const check = await orm.checkConnection();
    if (!check.ok) throw unreachable(check.reason ?? 'unknown reason', check.error);
    const connection = orm.em.fork().getConnection();
    return await work((sql) => connection.execute(sql));
  } finally {
    await orm.close(true);
  }
}

function checkedName(name: string): string {
  // The name is spliced into DDL (identifiers cannot be bound as parameters), so only a safe shape is accepted.
  if (!DATABASE_NAME.test(name)) throw new Error(`unsafe database name: ${name}`);
  return name;
}

export async function createPostgresDatabase(adminUrl: string, name: string): Promise<void> {
  await withAdminConnection(adminUrl, (execute) => execute(`create database "${checkedName(name)}"`));
}

export async function dropPostgresDatabase(adminUrl: string, name: string): Promise<void> {
  // WITH (FORCE) (PostgreSQL 13+) ends sessions a failed test may have left behind.
  await withAdminConnection(adminUrl, (execute) => execute(`drop database if exists "${checkedName(name)}" with (force)`));
}
