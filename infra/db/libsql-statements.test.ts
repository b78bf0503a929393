import { DriverException } from '@mikro-orm/core';
import { openTestDatabase, type TestDatabase } from '../../test/db.js';
import { StatementCachingLibSqlConnection } from './libsql-statements.js';

const TENANT = "insert into tenant (id, name, name_key, ca_certificate_pem, ca_serial_number, created_at) values (?, ?, ?, 'pem', '01', ?)";
const A = '00000000-0000-4000-8000-00000000000a';
const B = '00000000-0000-4000-8000-00000000000b';

describe('plain reads on SQLite (cached statements)', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await openTestDatabase('sqlite');
  });
  afterEach(async () => {
    await db.dispose();
  });

  test('the ORM runs on the statement-caching connection', () => {
    expect(db.orm.em.getConnection()).toBeInstanceOf(StatementCachingLibSqlConnection);
  });

  test('the same read with other parameters answers for those parameters, and a Date compares as the ORM stored it', async () => {
    const connection = db.orm.em.fork().getConnection();
    const at = new Date('2026-01-02T03:04:05.678Z');
    await connection.execute(TENANT, [A, 'Alpha', 'alpha', at]);
    await connection.execute(TENANT, [B, 'Beta', 'beta', new Date(at.getTime() + 1000)]);
    const byId = 'select id, name from tenant where id in (?)';
    expect(await connection.execute(byId, [A])).toEqual([{ id: A, name: 'Alpha' }]);
    expect(await connection.execute(byId, [B])).toEqual([{ id: B, name: 'Beta' }]);
    expect(await connection.execute('select id from tenant where created_at = ?', [at])).toEqual([{ id: A }]);
    expect(await connection.execute('select id from tenant where created_at > ? order by id', [at])).toEqual([{ id: B }]);
    expect(await connection.execute('select ? as yes, ? as no, ? as absent', [true, false, null])).toEqual([{ yes: 1, no: 0, absent: null }]);
    // What only the ORM's inlining understands still goes its way: a list for one `?`, an identifier for `??`.
    expect(await connection.execute('select id from tenant where id in (?) order by id', [[A, B]])).toEqual([{ id: A }, { id: B }]);
    expect(await connection.execute('select ?? from tenant where id = ?', ['name', B])).toEqual([{ name: 'Beta' }]);
  });

  test('a read outside a transaction waits for it and sees only what it committed; a read inside it sees its own writes', async () => {
    const connection = db.orm.em.fork().getConnection();
    const count = async (ctx?: Parameters<typeof connection.execute>[3]): Promise<number> =>
      Number(((await connection.execute('select count(*) as n from tenant', [], 'all', ctx)) as Array<{ n: unknown }>)[0]?.n);
    let outside: Promise<number> | null = null;
    await connection.transactional(async (trx) => {
      await connection.execute(TENANT, [A, 'Alpha', 'alpha', new Date()], 'run', trx);
      expect(await count(trx)).toBe(1);
      // The pool's one connection is the transaction's: a plain read must not run inside it.
      outside = count();
      await new Promise((resolve) => setTimeout(resolve, 20));
      await connection.execute(TENANT, [B, 'Beta', 'beta', new Date()], 'run', trx);
    });
    expect(await outside).toBe(2);
    await expect(connection.transactional(async (trx) => {
      await connection.execute(TENANT, [A.replace('a', 'c'), 'Gamma', 'gamma', new Date()], 'run', trx);
      throw new Error('rolled back');
    })).rejects.toThrow('rolled back');
    expect(await count()).toBe(2);
  });

  test('an UPDATE ... RETURNING outside a transaction waits for it, returns its rows and stays written; a Date is stored as the ORM stores it', async () => {
    const connection = db.orm.em.fork().getConnection();
    const at = new Date('2026-03-04T05:06:07.089Z');
    await connection.execute(TENANT, [A, 'Alpha', 'alpha', at]);
    const renamed: Array<Promise<Array<{ id: string }>>> = [];
    await connection.transactional(async (trx) => {
      await connection.execute(TENANT, [B, 'Beta', 'beta', at], 'run', trx);
      renamed.push(connection.execute('update tenant set name = ?, created_at = ? where id in (?, ?) returning id, name', ['Renamed', new Date(at.getTime() + 5), A, B]));
      await new Promise((resolve) => setTimeout(resolve, 20));
    });
    const [rows] = await Promise.all(renamed);
    expect(rows?.map((r) => r.id).sort()).toEqual([A, B]);
    // Read back the ORM's way (a list parameter is inlined by the ORM): the write is committed, the Date comparable.
    const after = await connection.execute('select id, name from tenant where id in (?) and created_at = ? order by id', [[A, B], new Date(at.getTime() + 5)]);
    expect(after).toEqual([{ id: A, name: 'Renamed' }, { id: B, name: 'Renamed' }]);
  });

  test('a failing read fails as a driver error, and the connection is given back to the pool', async () => {
    const connection = db.orm.em.fork().getConnection();
    await expect(connection.execute('select nothing from no_such_table where id = ?', [A])).rejects.toBeInstanceOf(DriverException);
    expect(await connection.execute('select count(*) as n from tenant where id = ?', [A])).toEqual([{ n: 0 }]);
  });
});
