import { createServer } from 'node:net';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../../domain/shared/logger.js';
import { TEST_DATABASES, openTestDatabase } from '../../test/db.js';
import { openDatabase } from './open-database.js';
import { POSTGRESQL_MIGRATIONS } from './migrations/postgresql/index.js';
import { SQLITE_MIGRATIONS } from './migrations/sqlite/index.js';
import { SQLITE_FILE_NAME } from './orm-config.js';

describe.each(TEST_DATABASES)('the database on %s', (kind) => {
  test('after the migrations, the schema equals the entity metadata (no pending diff)', async () => {
    const db = await openTestDatabase(kind);
    try {
      const diff = await db.orm.schema.getUpdateSchemaSQL({ wrap: false, safe: false, dropTables: true });
      expect(diff.trim()).toBe('');
      const migrator = db.orm.getMigrator();
      expect(await migrator.getPendingMigrations()).toEqual([]);
      const expected = kind === 'sqlite' ? SQLITE_MIGRATIONS : POSTGRESQL_MIGRATIONS;
      expect((await migrator.getExecutedMigrations()).map((m) => m.name)).toEqual(expected.map((m) => m.name));
    } finally {
      await db.dispose();
    }
  });

  test('opening an up-to-date database again applies nothing and keeps the data', async () => {
    const db = await openTestDatabase(kind);
    try {
      await db.orm.em.fork().getConnection().execute("insert into tenant (id, name, name_key, ca_certificate_pem, ca_serial_number, created_at) values ('00000000-0000-4000-8000-000000000001', 'A', 'a', 'pem', '01', ?)", [new Date()]);
      const again = await openDatabase({ databaseUrl: db.databaseUrl, dataDir: db.dataDir, log: silentLogger });
      try {
        expect(await again.getMigrator().getPendingMigrations()).toEqual([]);
        const rows = await again.em.fork().getConnection().execute('select count(*) as n from tenant');
        expect(Number((rows as Array<{ n: unknown }>)[0]?.n)).toBe(1);
      } finally {
        await again.close(true);
      }
    } finally {
      await db.dispose();
    }
  });
});

describe('SQLite specifics', () => {
  test('the file lives in the data dir and runs in WAL mode', async () => {
    const db = await openTestDatabase('sqlite');
    try {
      expect(existsSync(join(db.dataDir, SQLITE_FILE_NAME))).toBe(true);
      const rows = await db.orm.em.fork().getConnection().execute('pragma journal_mode');
      expect(rows).toEqual([{ journal_mode: 'wal' }]);
    } finally {
      await db.dispose();
    }
  });

  test('a connection the pool makes later gets the same settings: foreign keys enforced, a busy writer waited for', async () => {
    const db = await openTestDatabase('sqlite');
    const realNow = Date.now;
    try {
      const settings = async (): Promise<unknown> => {
        const connection = db.orm.em.fork().getConnection();
        const [fk] = await connection.execute('pragma foreign_keys');
        const [busy] = await connection.execute('pragma busy_timeout');
        return { fk, busy };
      };
      const expected = { fk: { foreign_keys: 1 }, busy: { timeout: 5000 } };
      expect(await settings()).toEqual(expected);
      // knex's libsql dialect replaces a connection older than 10 s when it is next acquired.
      const later = realNow() + 60_000;
      Date.now = () => later;
      expect(await settings()).toEqual(expected);
      // And the replacement really enforces them: a row naming a tenant that does not exist is refused.
      await expect(
        db.orm.em.fork().getConnection().execute("insert into product (id, tenant_id, name, name_key, description, created_at) values ('00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-0000000000ff', 'P', 'p', '', 1)"),
      ).rejects.toThrow(/FOREIGN KEY/);
    } finally {
      Date.now = realNow;
      await db.dispose();
    }
  });
});

describe('configuration errors', () => {
  test('both drivers have the same migrations, in the same order', () => {
    expect(SQLITE_MIGRATIONS.map((m) => m.name)).toEqual(POSTGRESQL_MIGRATIONS.map((m) => m.name));
  });

  test('a URL of another database is refused by name', async () => {
    await expect(openDatabase({ databaseUrl: 'mysql://root@127.0.0.1/x', dataDir: '/nonexistent', log: silentLogger })).rejects.toThrow(
      /postgres:\/\/ or postgresql:\/\//,
    );
  });

  test('an unreachable PostgreSQL fails with a clear message that hides the password', async () => {
    // A port that was just free: nothing listens there.
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    const url = `postgresql://root:s3cret@127.0.0.1:${port}/nowhere`;
    const failure = openDatabase({ databaseUrl: url, dataDir: '/nonexistent', log: silentLogger });
    await expect(failure).rejects.toThrow(/Cannot connect to postgresql at postgresql:\/\/root:\*\*\*@127\.0\.0\.1/);
    await expect(failure).rejects.not.toThrow(/s3cret/);
  });
});
