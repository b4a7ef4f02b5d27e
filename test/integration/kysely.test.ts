// What only the Kysely driver has: enqueue on Kysely's own transactions (callback and controlled,
// with savepoints), Kysely's errors as typed async-task errors, dialect detection, plugins kept
// away from async-task's rows, and a polling worker — on PostgreSQL, MySQL/MariaDB and SQLite.
import { CamelCasePlugin, Kysely, MssqlDialect, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, DatabaseError } from '../../src/core/errors.js';
import { kyselyDriver } from '../../src/drivers/kysely.js';
import { AsyncTask, defineTarget } from '../../src/index.js';
import { caught } from '../harness/caught.js';
import {
  mysqlKyselyHarness,
  postgresKyselyHarness,
  sqliteKyselyHarness,
  type AnyDb,
  type KyselyHarness,
} from '../harness/kysely.js';
import { Database, tempDatabaseFile } from '../harness/sqlite.js';

function orderTarget(onRun: (orderNumber: number) => void) {
  return defineTarget('OrderClient', {
    fulfill(args: { orderNumber: number }) {
      onRun(args.orderNumber);
    },
  });
}

const cases = [
  { name: 'postgres', setup: postgresKyselyHarness },
  { name: 'mysql', setup: mysqlKyselyHarness },
  { name: 'sqlite', setup: sqliteKyselyHarness },
] as const;

describe.each(cases)('kysely driver on $name', ({ name, setup }) => {
  let harness: KyselyHarness;
  beforeEach(async () => {
    harness = await setup();
  });
  afterEach(async () => {
    await harness.close();
  });

  const newTasks = async (db: Kysely<AnyDb> = harness.db, onRun = (_n: number) => {}) => {
    const target = orderTarget(onRun);
    const tasks = new AsyncTask({
      driver: kyselyDriver(db),
      table: harness.table,
      targets: [target],
    });
    await tasks.migrate();
    return { tasks, target };
  };

  it('detects the dialect from the adapter', () => {
    expect(kyselyDriver(harness.db).dialect.name).toBe(name);
    expect(kyselyDriver(harness.db, { dialect: name }).dialect.name).toBe(name);
  });

  it('enqueue in db.transaction().execute, then throw: no row; commit: one row', async () => {
    const { tasks, target } = await newTasks();
    const boom = new Error('boom');
    const error = await caught(
      harness.db.transaction().execute(async (trx) => {
        await tasks.enqueue(trx, target.fulfill, { orderNumber: 1 });
        throw boom;
      }),
    );
    expect(error).toBe(boom);
    expect(await harness.countAttempts()).toBe(0);

    const attempt = await harness.db
      .transaction()
      .execute((trx) => tasks.enqueue(trx, target.fulfill, { orderNumber: 2 }));
    expect(await harness.countAttempts()).toBe(1);
    expect(await tasks.get(attempt.id)).toMatchObject({
      status: 'pending',
      args: { orderNumber: 2 },
    });
  });

  it('enqueue after a savepoint of a controlled transaction is discarded by rollbackToSavepoint', async () => {
    const { tasks, target } = await newTasks();
    const trx = await harness.db.startTransaction().execute();
    const kept = await tasks.enqueue(trx, target.fulfill, { orderNumber: 1 });
    const afterKept = await trx.savepoint('before_second').execute();
    await tasks.enqueue(afterKept, target.fulfill, { orderNumber: 2 });
    await afterKept.rollbackToSavepoint('before_second').execute();
    await trx.commit().execute();
    expect((await tasks.list({})).map((attempt) => attempt.id)).toEqual([kept.id]);
  });

  it('a Kysely error surfaces as a DatabaseError with the client error as cause', async () => {
    const { tasks, target } = await newTasks();
    let finished: unknown;
    await harness.db.transaction().execute((trx) => {
      finished = trx;
      return Promise.resolve();
    });
    // Kysely refuses queries on a transaction that has already committed.
    const error = await caught(
      tasks.enqueue(finished as never, target.fulfill, { orderNumber: 3 }),
    );
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as DatabaseError).code).toBe('DATABASE');
    expect((error as DatabaseError).cause).toBeInstanceOf(Error);

    // A statement the database refuses: a write in a read-only transaction (SQLite has no such
    // transactions; its query_only pragma refuses writes on the connection until turned off).
    const refused = await caught(
      name === 'sqlite'
        ? harness.db.transaction().execute(async (trx) => {
            await sql`PRAGMA query_only = ON`.execute(trx);
            try {
              return await tasks.enqueue(trx, target.fulfill, { orderNumber: 4 });
            } finally {
              await sql`PRAGMA query_only = OFF`.execute(trx);
            }
          })
        : harness.db
            .transaction()
            .setAccessMode('read only')
            .execute((trx) => tasks.enqueue(trx, target.fulfill, { orderNumber: 4 })),
    );
    expect(refused).toBeInstanceOf(DatabaseError);
    expect((refused as DatabaseError).message).toMatch(/refused the statement/);
    expect((refused as DatabaseError).cause).toMatchObject(
      name === 'mysql'
        ? { errno: 1792 }
        : name === 'sqlite'
          ? { code: 'SQLITE_READONLY' }
          : { code: '25006' },
    );
    expect(await harness.countAttempts()).toBe(0);
    // Not a Kysely transaction at all: refused before any SQL.
    const outside = await caught(() =>
      tasks.enqueue({ query: () => Promise.resolve() } as never, target.fulfill, {
        orderNumber: 5,
      }),
    );
    expect(outside).toBeInstanceOf(ConfigError);
  });

  it('refuses a transaction of a Kysely instance on another database family, before any statement', async () => {
    const { tasks, target } = await newTasks();
    const { file, remove } = tempDatabaseFile();
    // The PostgreSQL pool is never connected: the refusal comes before any statement.
    const other =
      name === 'sqlite'
        ? new Kysely<AnyDb>({ dialect: new PostgresDialect({ pool: new pg.Pool({ max: 1 }) }) })
        : new Kysely<AnyDb>({
            dialect: new SqliteDialect({ database: new Database(file) as never }),
          });
    try {
      const error = await caught(
        name === 'sqlite'
          ? () => tasks.enqueue(other, target.fulfill, { orderNumber: 6 })
          : other
              .transaction()
              .execute((trx) => tasks.enqueue(trx, target.fulfill, { orderNumber: 6 })),
      );
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toBe(
        `enqueue: this Kysely transaction or instance runs on ${name === 'sqlite' ? 'PostgreSQL' : 'SQLite'}, but kyselyDriver was given a Kysely instance on ${{ postgres: 'PostgreSQL', mysql: 'MySQL', sqlite: 'SQLite' }[name]}; pass a transaction of that instance (or give this AsyncTask a driver over the instance this one comes from)`,
      );
      expect(await harness.countAttempts()).toBe(0);
    } finally {
      await other.destroy();
      remove();
    }
  });

  it('keeps plugins away from its own rows (CamelCasePlugin on the instance)', async () => {
    const { tasks, target } = await newTasks(harness.db.withPlugin(new CamelCasePlugin()));
    const attempt = await tasks.enqueue(harness.db, target.fulfill, { orderNumber: 5 });
    expect(await tasks.get(attempt.id)).toMatchObject({
      methodName: 'fulfill',
      numAttempts: 0,
      args: { orderNumber: 5 },
    });
  });

  it('a worker on this driver performs a task (polling)', async () => {
    const ran: number[] = [];
    const { tasks, target } = await newTasks(harness.db, (n) => ran.push(n));
    expect('listen' in kyselyDriver(harness.db)).toBe(false);
    const worker = tasks.worker({ concurrency: 2, pollIntervalMs: 50 });
    const succeeded = new Promise<string>((resolve) => {
      worker.on('succeeded', ({ attempt }) => resolve(attempt.id));
    });
    await worker.start();
    try {
      const attempt = await harness.db
        .transaction()
        .execute((trx) => tasks.enqueue(trx, target.fulfill, { orderNumber: 6 }));
      expect(await succeeded).toBe(attempt.id);
      expect(ran).toEqual([6]);
    } finally {
      await worker.stop();
    }
    expect(await tasks.get((await tasks.list({}))[0]!.id)).toMatchObject({ status: 'succeeded' });
  });
});

describe('kyselyDriver configuration', () => {
  it("refuses a SQL Server Kysely instance's transaction at enqueue, before any statement", async () => {
    const { file, remove } = tempDatabaseFile();
    const db = new Kysely<AnyDb>({
      dialect: new SqliteDialect({ database: new Database(file) as never }),
    });
    // Never connected: the refusal comes before any statement.
    const mssql = new Kysely<AnyDb>({
      // No SQL Server here: stand-ins for its client modules, which nothing reaches.
      dialect: new MssqlDialect({
        tedious: {} as never,
        tarn: { options: {}, Pool: class {} } as never,
      }),
    });
    try {
      const target = orderTarget(() => undefined);
      const tasks = new AsyncTask({ driver: kyselyDriver(db), targets: [target] });
      const error = await caught(() => tasks.enqueue(mssql, target.fulfill, { orderNumber: 1 }));
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(
        /^enqueue: this Kysely transaction or instance runs on SQL Server, but kyselyDriver was given a Kysely instance on SQLite/,
      );
    } finally {
      await db.destroy();
      remove();
    }
  });

  it('refuses what is not a Kysely instance, and a dialect it does not have', () => {
    expect(() => kyselyDriver({} as never)).toThrow(ConfigError);
    const { file, remove } = tempDatabaseFile();
    const db = new Kysely<AnyDb>({
      dialect: new SqliteDialect({ database: new Database(file) as never }),
    });
    try {
      expect(kyselyDriver(db).dialect.name).toBe('sqlite');
      expect(() => kyselyDriver(db, { dialect: 'mssql' as never })).toThrow(
        /options.dialect must be 'postgres', 'mysql' or 'sqlite', got mssql/,
      );
    } finally {
      void db.destroy();
      remove();
    }
  });
});
