// What only the Drizzle driver has: enqueue takes Drizzle's own `tx` (or `db`), a nested
// `tx.transaction()` is a savepoint, the flavour comes from the Drizzle instance (or the dialect
// option), a handler's `ctx.transaction` hands it a Drizzle `tx`, and on better-sqlite3 the
// enqueue writes inside Drizzle's synchronous `db.transaction`.
import { TransactionRollbackError, entityKind, sql } from 'drizzle-orm';
import { drizzle as drizzleSqlite } from 'drizzle-orm/better-sqlite3';
import { MySqlTransaction } from 'drizzle-orm/mysql-core';
import { drizzle as drizzleMysql } from 'drizzle-orm/mysql2';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { PgTransaction } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePostgresJs } from 'drizzle-orm/postgres-js';
import { BaseSQLiteDatabase } from 'drizzle-orm/sqlite-core';
import mysql from 'mysql2';
import mysqlPromise from 'mysql2/promise';
import pg from 'pg';
import postgres from 'postgres';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AsyncTask,
  ConfigError,
  DatabaseError,
  SchemaOutdatedError,
  defineTarget,
  type TaskContext,
} from '../../src/index.js';
import { drizzleDriver, type DrizzleDatabase } from '../../src/drivers/drizzle/index.js';
import { caught, caughtSync } from '../harness/caught.js';
import {
  mysqlDrizzleHarness,
  postgresDrizzleHarness,
  postgresJsDrizzleHarness,
  sqliteDrizzleHarness,
  type DrizzleHarness,
  type SqliteDrizzle,
} from '../harness/drizzle.js';
import { mysqlUrl } from '../harness/mysql.js';
import { postgresUrl } from '../harness/postgres.js';
import { Database } from '../harness/sqlite.js';
import { waitFor } from '../harness/wait-for.js';

class Rollback extends Error {}

/** The part of an asynchronous Drizzle database or transaction these tests use. */
interface AsyncDb {
  transaction<T>(fn: (tx: AsyncTx) => Promise<T>): Promise<T>;
  execute(query: ReturnType<typeof sql>): Promise<unknown>;
}
interface AsyncTx extends AsyncDb {
  rollback(): never;
}

const asyncCases: readonly {
  label: string;
  setup: () => Promise<DrizzleHarness<unknown>>;
  /** Drizzle's transaction class for this database. */
  txClass: abstract new (...args: never[]) => unknown;
  /** A Drizzle db of this flavour over a pool of its own, and how to end that pool. */
  separate: () => { db: DrizzleDatabase; end: () => Promise<void> };
}[] = [
  {
    label: 'postgres/drizzle-pg',
    setup: () => postgresDrizzleHarness(),
    txClass: PgTransaction,
    separate: () => {
      const pool = new pg.Pool({ connectionString: postgresUrl, max: 1 });
      return { db: drizzlePg({ client: pool }), end: () => pool.end() };
    },
  },
  {
    label: 'postgres/drizzle-postgres.js',
    setup: () => postgresJsDrizzleHarness(),
    txClass: PgTransaction,
    separate: () => {
      const client = postgres(postgresUrl, { max: 1, onnotice: () => undefined });
      return { db: drizzlePostgresJs({ client }), end: () => client.end({ timeout: 5 }) };
    },
  },
  {
    label: 'mysql/drizzle',
    setup: () => mysqlDrizzleHarness(),
    txClass: MySqlTransaction,
    separate: () => {
      const pool = mysqlPromise.createPool({ uri: mysqlUrl, connectionLimit: 1 });
      return { db: drizzleMysql({ client: pool }), end: () => pool.end() };
    },
  },
];

for (const { label, setup, txClass, separate } of asyncCases) {
  describe(`${label}: enqueue in Drizzle transactions`, () => {
    let harness: DrizzleHarness<unknown>;
    let db: AsyncDb;
    const performed: number[] = [];
    const handlerTxs: unknown[] = [];
    const seen: string[][] = [];
    const Shop = defineTarget('Shop', {
      order: async (args: { n: number }, ctx: TaskContext) => {
        await ctx.transaction(async (tx) => {
          handlerTxs.push(tx);
          // Drizzle's query builder, through the handler's tx: it sees its own write.
          await harness.insertSide(tx, `order-${args.n}`);
          seen.push(await harness.readSide(tx));
        });
        performed.push(args.n);
      },
    });
    let tasks: AsyncTask<unknown, unknown>;

    beforeEach(async () => {
      harness = await setup();
      db = harness.db as AsyncDb;
      await harness.createSideTable();
      performed.length = 0;
      handlerTxs.length = 0;
      seen.length = 0;
      tasks = new AsyncTask({ driver: harness.driver, table: harness.table, targets: [Shop] });
      await tasks.migrate();
    });
    afterEach(() => harness.close());

    it('a db.transaction that throws leaves no task; one that commits leaves one', async () => {
      const error = await caught(
        db.transaction(async (tx) => {
          await tasks.enqueue(tx, Shop.order, { n: 1 });
          throw new Rollback('boom');
        }),
      );
      expect(error).toBeInstanceOf(Rollback);
      expect(await harness.countAttempts()).toBe(0);

      const rolledBack = await caught(
        db.transaction(async (tx) => {
          await tasks.enqueue(tx, Shop.order, { n: 2 });
          tx.rollback();
        }),
      );
      expect(rolledBack).toBeInstanceOf(TransactionRollbackError);
      expect(await harness.countAttempts()).toBe(0);

      const attempt = await db.transaction((tx) => tasks.enqueue(tx, Shop.order, { n: 3 }));
      expect(await harness.countAttempts()).toBe(1);
      expect((await tasks.get(attempt.id))?.args).toEqual({ n: 3 });
    });

    it('a nested tx.transaction rolled back drops only its own task', async () => {
      await db.transaction(async (tx) => {
        await tasks.enqueue(tx, Shop.order, { n: 1 });
        await tx
          .transaction(async (nested) => {
            await tasks.enqueue(nested, Shop.order, { n: 2 });
            nested.rollback();
          })
          .catch((error: unknown) => {
            if (!(error instanceof TransactionRollbackError)) throw error;
          });
        await tx.transaction((nested) => tasks.enqueue(nested, Shop.order, { n: 3 }));
      });
      const kept = await tasks.list({});
      expect(kept.map((attempt) => (attempt.args as { n: number }).n).sort()).toEqual([1, 3]);
    });

    it('enqueue on the Drizzle db itself commits at once', async () => {
      await tasks.enqueue(db, Shop.order, { n: 4 });
      expect(await harness.countAttempts()).toBe(1);
    });

    it('a worker performs the task; ctx.transaction hands the handler a Drizzle tx', async () => {
      // A long poll interval: the task enqueued after start is picked up by LISTEN/NOTIFY on
      // PostgreSQL, by the local wake on MySQL.
      const worker = tasks.worker({ pollIntervalMs: 60_000 });
      await worker.start();
      try {
        await db.transaction((tx) => tasks.enqueue(tx, Shop.order, { n: 7 }));
        await waitFor('the task to be performed', async () => {
          const [attempt] = await tasks.list({});
          return attempt?.status === 'succeeded';
        });
      } finally {
        await worker.stop();
      }
      expect(performed).toEqual([7]);
      expect(handlerTxs).toHaveLength(1);
      expect(handlerTxs[0]).toBeInstanceOf(txClass);
      expect(seen).toEqual([['order-7']]);
      expect(await harness.sideKeys()).toEqual(['order-7']);
      expect(harness.driver.listen !== undefined).toBe(label.startsWith('postgres/'));
    });

    it("errors are typed: the client's errors are DatabaseError, a missing table SchemaOutdatedError", async () => {
      if (label.startsWith('postgres/')) {
        // A failed Drizzle query aborts the PostgreSQL transaction: the enqueue after it is refused.
        const aborted = await caught(
          db.transaction(async (tx) => {
            await caught(tx.execute(sql`SELECT 1/0`));
            await tasks.enqueue(tx, Shop.order, { n: 1 });
          }),
        );
        expect(aborted).toBeInstanceOf(DatabaseError);
        expect((aborted as DatabaseError).cause).toMatchObject({ code: '25P02' });
      }

      const other = separate();
      const otherTasks = new AsyncTask({
        driver: drizzleDriver(other.db),
        table: harness.table,
        targets: [Shop],
      });
      await other.end();
      const closed = await caught(otherTasks.enqueue(other.db, Shop.order, { n: 1 }));
      expect(closed).toBeInstanceOf(DatabaseError);
      expect((closed as DatabaseError).cause).toBeInstanceOf(Error);
      // Drizzle cannot even begin the handler's transaction.
      const begin = await caught(drizzleDriver(other.db).transaction(() => Promise.resolve()));
      expect(begin).toBeInstanceOf(DatabaseError);
      expect((begin as Error).message).toMatch(/Drizzle could not begin or commit/);
      expect((begin as DatabaseError).cause).toBeInstanceOf(Error);

      await db.execute(sql.raw(`DROP TABLE ${harness.table}`));
      const missing = await caught(db.transaction((tx) => tasks.enqueue(tx, Shop.order, { n: 1 })));
      expect(missing).toBeInstanceOf(SchemaOutdatedError);
    });

    if (label === 'mysql/drizzle') {
      it("works over mysql2's callback pool too (Drizzle wraps it with .promise())", async () => {
        const pool = mysql.createPool({ uri: mysqlUrl, connectionLimit: 2 });
        try {
          const callbackDb = drizzleMysql({ client: pool });
          const overCallbacks = new AsyncTask({
            driver: drizzleDriver(callbackDb),
            table: harness.table,
            targets: [Shop],
          });
          await callbackDb.transaction((tx) => overCallbacks.enqueue(tx, Shop.order, { n: 8 }));
          expect(await overCallbacks.runDue()).toMatchObject({ claimed: 1, succeeded: 1 });
          expect(await harness.sideKeys()).toEqual(['order-8']);
        } finally {
          await new Promise((resolve) => pool.end(resolve));
        }
      });
    }

    it('prune deletes finished attempts (a Date parameter)', async () => {
      await tasks.enqueue(db, Shop.order, { n: 5 });
      expect(await tasks.runDue()).toMatchObject({ succeeded: 1 });
      expect(await tasks.prune({ olderThan: new Date(Date.now() - 60_000) })).toBe(0);
      expect(await tasks.prune({ olderThan: new Date(Date.now() + 60_000) })).toBe(1);
      expect(await harness.countAttempts()).toBe(0);
    });

    it("a handler's own error in ctx.transaction passes through and rolls its writes back", async () => {
      const boom = new Rollback('handler');
      const driver = harness.driver;
      const error = await caught(
        driver.transaction(async (_connection, tx) => {
          await harness.insertSide(tx, 'never');
          throw boom;
        }),
      );
      expect(error).toBe(boom);
      expect(await harness.sideKeys()).toEqual([]);
      // Its result is returned as it is, arrays too (postgres.js would await those element-wise).
      expect(await driver.transaction(() => Promise.resolve([1, 2]))).toEqual([1, 2]);
    });
  });
}

describe('postgres/drizzle-pg: a connection that dies inside ctx.transaction', () => {
  it('is the handler’s error, not an uncaught exception, and the pool goes on', async () => {
    const pool = new pg.Pool({ connectionString: postgresUrl, max: 2 });
    try {
      const driver = drizzleDriver(drizzlePg({ client: pool }));
      const error = await caught(
        driver.transaction(async (_connection, tx) => {
          await tx.execute(sql`SELECT pg_terminate_backend(pg_backend_pid())`);
        }),
      );
      expect((error as Error).message).toMatch(/terminat/);
      // pg reports the lost connection as an 'error' event a moment later.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await driver.transaction(() => Promise.resolve('again'))).toBe('again');
    } finally {
      await pool.end();
    }
  });
});

describe('sqlite/drizzle: Drizzle’s synchronous transactions', () => {
  let harness: DrizzleHarness<SqliteDrizzle>;
  let db: SqliteDrizzle;
  let tasks: AsyncTask<unknown, unknown>;
  const performed: number[] = [];
  const handlerTxs: unknown[] = [];
  const seen: string[][] = [];
  const Shop = defineTarget('Shop', {
    order: async (args: { n: number }, ctx: TaskContext) => {
      await ctx.transaction(async (tx) => {
        handlerTxs.push(tx);
        await harness.insertSide(tx, `order-${args.n}`);
        seen.push(await harness.readSide(tx));
        if (args.n < 0) throw new Rollback('handler');
      });
      performed.push(args.n);
    },
  });
  const count = (tx: SqliteDrizzle | Parameters<Parameters<SqliteDrizzle['transaction']>[0]>[0]) =>
    tx.get<{ n: number }>(sql.raw(`SELECT count(*) AS n FROM ${harness.table}`)).n;

  beforeEach(async () => {
    harness = await sqliteDrizzleHarness();
    db = harness.db;
    await harness.createSideTable();
    performed.length = 0;
    handlerTxs.length = 0;
    seen.length = 0;
    tasks = new AsyncTask({ driver: harness.driver, table: harness.table, targets: [Shop] });
    await tasks.migrate();
  });
  afterEach(() => harness.close());

  it('writes the row before enqueue returns, inside db.transaction((tx) => …)', async () => {
    let pending: Promise<unknown> | undefined;
    db.transaction((tx) => {
      pending = tasks.enqueue(tx, Shop.order, { n: 1 });
      expect(count(tx)).toBe(1);
    });
    await pending;
    expect(await harness.countAttempts()).toBe(1);
  });

  it('an exception later in the callback rolls the task back', async () => {
    const enqueued: Promise<unknown>[] = [];
    const error = caughtSync(() =>
      db.transaction((tx) => {
        enqueued.push(tasks.enqueue(tx, Shop.order, { n: 1 }));
        tx.run(sql`SELECT 1`);
        throw new Rollback('later');
      }),
    );
    expect(error).toBeInstanceOf(Rollback);
    await Promise.all(enqueued);
    expect(await harness.countAttempts()).toBe(0);

    const rolledBack = caughtSync(() =>
      db.transaction((tx) => {
        enqueued.push(tasks.enqueue(tx, Shop.order, { n: 2 }));
        tx.rollback();
      }),
    );
    expect(rolledBack).toBeInstanceOf(TransactionRollbackError);
    expect(await harness.countAttempts()).toBe(0);
  });

  it('a nested tx.transaction (a savepoint) rolled back drops only its own task', async () => {
    const enqueued: Promise<unknown>[] = [];
    db.transaction((tx) => {
      enqueued.push(tasks.enqueue(tx, Shop.order, { n: 1 }));
      try {
        tx.transaction((nested) => {
          enqueued.push(tasks.enqueue(nested, Shop.order, { n: 2 }));
          nested.rollback();
        });
      } catch (error) {
        if (!(error instanceof TransactionRollbackError)) throw error;
      }
      enqueued.push(tasks.enqueue(tx, Shop.order, { n: 3 }));
    });
    await Promise.all(enqueued);
    const kept = await tasks.list({});
    expect(kept.map((attempt) => (attempt.args as { n: number }).n).sort()).toEqual([1, 3]);
  });

  it('refuses an async encryptor inside db.transaction, rolling it back', async () => {
    const encrypting = new AsyncTask({
      driver: harness.driver,
      table: harness.table,
      targets: [Shop],
      encryptors: {
        slow: {
          encrypt: (text: string) => Promise.resolve(Buffer.from(text).toString('base64')),
          decrypt: (text: string) => Promise.resolve(Buffer.from(text, 'base64').toString()),
        },
      },
    });
    const error = caughtSync(() =>
      db.transaction((tx) => {
        void harness.insertSide(tx, 'order-async');
        void encrypting.enqueue(tx, Shop.order, { n: 4 }, { encryptor: 'slow' });
      }),
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/asynchronous/);
    await new Promise((resolve) => setImmediate(resolve));
    expect(await harness.countAttempts()).toBe(0);
    expect(await harness.sideKeys()).toEqual([]);
    // Outside a transaction the same encryptor is fine.
    const attempt = await encrypting.enqueue(db, Shop.order, { n: 5 }, { encryptor: 'slow' });
    expect(attempt.encryptor).toBe('slow');
  });

  it('enqueue on the Drizzle db outside a transaction commits at once', async () => {
    await tasks.enqueue(db, Shop.order, { n: 4 });
    expect(await harness.countAttempts()).toBe(1);
  });

  it('a worker performs the task; ctx.transaction hands a Drizzle db on the worker connection', async () => {
    const worker = tasks.worker({ pollIntervalMs: 60_000 });
    await worker.start();
    try {
      db.transaction((tx) => void tasks.enqueue(tx, Shop.order, { n: 7 }));
      await waitFor('the task to be performed', async () => {
        const [attempt] = await tasks.list({});
        return attempt?.status === 'succeeded';
      });
    } finally {
      await worker.stop();
    }
    expect(performed).toEqual([7]);
    expect(seen).toEqual([['order-7']]);
    expect(await harness.sideKeys()).toEqual(['order-7']);
    const [handlerTx] = handlerTxs as SqliteDrizzle[];
    expect(handlerTx).toBeInstanceOf(BaseSQLiteDatabase);
    expect(handlerTx).not.toBe(db);
    expect(handlerTx!.$client).not.toBe(db.$client);
    expect(typeof harness.driver.listen).toBe('undefined');
  });

  it("a handler's error rolls its Drizzle writes back", async () => {
    await tasks.enqueue(db, Shop.order, { n: -1 });
    expect(await tasks.runDue()).toMatchObject({ claimed: 1, succeeded: 0 });
    expect(seen).toEqual([['order--1']]);
    expect(await harness.sideKeys()).toEqual([]);
  });

  it('on an in-memory database, ctx.transaction hands over db itself', async () => {
    const file = new Database(':memory:');
    const memory = drizzleSqlite({ client: file });
    const driver = drizzleDriver(memory);
    try {
      const handed = await driver.transaction((_connection, tx) => Promise.resolve(tx));
      expect(handed).toBe(memory);
    } finally {
      await driver.close();
      file.close();
    }
  });

  it('a closed database is a DatabaseError', async () => {
    const file = new Database(':memory:');
    const closedDb = drizzleSqlite({ client: file });
    const closedTasks = new AsyncTask({ driver: drizzleDriver(closedDb), targets: [Shop] });
    file.close();
    const error = await caught(() => closedTasks.enqueue(closedDb, Shop.order, { n: 1 }));
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as DatabaseError).cause).toBeInstanceOf(Error);
  });
});

describe('drizzleDriver: choosing the flavour', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });
  const pgPool = (): pg.Pool => {
    const pool = new pg.Pool({ connectionString: postgresUrl, max: 2 });
    cleanups.push(() => pool.end());
    return pool;
  };

  it('detects node-postgres, postgres-js, mysql2 (promise or callback pool) and better-sqlite3', () => {
    const client = postgres(postgresUrl, { max: 1 });
    const promisePool = mysqlPromise.createPool({ uri: mysqlUrl, connectionLimit: 1 });
    const callbackPool = mysql.createPool({ uri: mysqlUrl, connectionLimit: 1 });
    const sqlite = new Database(':memory:');
    cleanups.push(
      () => client.end({ timeout: 1 }),
      () => promisePool.end(),
      () => new Promise((resolve) => callbackPool.end(resolve)),
      () => sqlite.close(),
    );
    const detected = [
      drizzleDriver(drizzlePg({ client: pgPool() })),
      drizzleDriver(drizzlePostgresJs({ client })),
      drizzleDriver(drizzleMysql({ client: promisePool })),
      drizzleDriver(drizzleMysql({ client: callbackPool })),
      drizzleDriver(drizzleSqlite({ client: sqlite })),
    ].map((driver) => [driver.dialect.name, typeof driver.listen]);
    expect(detected).toEqual([
      ['postgres', 'function'],
      ['postgres', 'function'],
      ['mysql', 'undefined'],
      ['mysql', 'undefined'],
      ['sqlite', 'undefined'],
    ]);
  });

  it('refuses a session class it does not know unless options.dialect says which family', async () => {
    // A stand-in for a third-party Drizzle driver over a pg-compatible pool: its own session class,
    // Drizzle's shape (its transactions are node-postgres ones here, so the test can run them).
    const pool = pgPool();
    const real = drizzlePg({ client: pool });
    class PgCompatibleSession {
      static readonly [entityKind] = 'PgCompatibleSession';
      constructor(readonly client: pg.Pool) {}
    }
    const custom = {
      $client: pool,
      session: new PgCompatibleSession(pool),
      transaction: real.transaction.bind(real),
    };
    const refused = caughtSync(() => drizzleDriver(custom));
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as Error).message).toMatch(/PgCompatibleSession.*dialect: 'postgres'/);

    const driver = drizzleDriver(custom, { dialect: 'postgres' });
    expect(driver.dialect.name).toBe('postgres');
    expect(typeof driver.listen).toBe('function');
    const schema = `at_test_drizzle_${process.pid}_${Date.now()}`;
    await pool.query(`CREATE SCHEMA "${schema}"`);
    cleanups.unshift(() => pool.query(`DROP SCHEMA "${schema}" CASCADE`));
    const Mailer = defineTarget('Mailer', { send: (_args: { to: string }) => undefined });
    const tasks = new AsyncTask({
      driver,
      table: `${schema}.async_task_attempts`,
      targets: [Mailer],
    });
    await tasks.migrate();
    await custom.transaction((tx) => tasks.enqueue(tx, Mailer.send, { to: 'a' }));
    await tasks.enqueue(custom, Mailer.send, { to: 'b' });
    expect(await tasks.runDue()).toMatchObject({ claimed: 2, succeeded: 2 });
  });

  it('refuses a dialect option that contradicts the instance, or is not a family', () => {
    const db = drizzlePg({ client: pgPool() });
    const contradicted = caughtSync(() => drizzleDriver(db, { dialect: 'mysql' }));
    expect(contradicted).toBeInstanceOf(ConfigError);
    expect((contradicted as Error).message).toMatch(/'mysql'.*NodePgSession.*postgres/);
    expect(drizzleDriver(db, { dialect: 'postgres' }).dialect.name).toBe('postgres');
    expect(() => drizzleDriver(db, { dialect: 'mssql' as 'mysql' })).toThrow(ConfigError);
  });

  it('refuses what is not a Drizzle database: a pool, a transaction, a single client', async () => {
    const pool = pgPool();
    const bare = [pool, postgres(postgresUrl, { max: 1 }), {}, null];
    cleanups.push(() => (bare[1] as postgres.Sql).end({ timeout: 1 }));
    for (const value of bare) {
      const error = caughtSync(() => drizzleDriver(value as unknown as DrizzleDatabase));
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(/pass your Drizzle database/);
    }

    const db = drizzlePg({ client: pool });
    await db.transaction((tx) => {
      const error = caughtSync(() => drizzleDriver(tx as unknown as DrizzleDatabase));
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(/not a transaction/);
      return Promise.resolve();
    });

    const single = new pg.Client({ connectionString: postgresUrl });
    expect(() => drizzleDriver(drizzlePg({ client: single }))).toThrow(/single pg Client/);
    const connection = await mysqlPromise.createConnection({ uri: mysqlUrl });
    cleanups.push(() => connection.end());
    expect(() => drizzleDriver(drizzleMysql({ client: connection }))).toThrow(
      /single mysql2 connection/,
    );
  });

  it("enqueue refuses a native client and another flavour's Drizzle object", async () => {
    const pool = pgPool();
    const Mailer = defineTarget('Mailer', { send: (_args: { to: string }) => undefined });
    const tasks = new AsyncTask({
      driver: drizzleDriver(drizzlePg({ client: pool })),
      targets: [Mailer],
    });
    const client = await pool.connect();
    let native: unknown;
    try {
      native = caughtSync(() => tasks.enqueue(client as never, Mailer.send, { to: 'a' }));
      expect(native).toBeInstanceOf(ConfigError);
      expect((native as Error).message).toMatch(/pass the tx of db\.transaction/);
    } finally {
      client.release();
    }
    const file = new Database(':memory:');
    const sqlite = drizzleSqlite({ client: file });
    cleanups.push(() => file.close());
    const other = caughtSync(() => tasks.enqueue(sqlite as never, Mailer.send, { to: 'a' }));
    expect(other).toBeInstanceOf(ConfigError);
    expect((other as Error).message).toMatch(
      /drizzle-orm\/better-sqlite3.*drizzle-orm\/node-postgres/,
    );
    expect((native as Error).message).toMatch(/db\.transaction\(async \(tx\) => …\)/);

    // On better-sqlite3 the hint names the synchronous callback an async one would break.
    const sqliteTasks = new AsyncTask({ driver: drizzleDriver(sqlite), targets: [Mailer] });
    const sqliteNative = caughtSync(() =>
      sqliteTasks.enqueue(file as never, Mailer.send, { to: 'a' }),
    );
    expect(sqliteNative).toBeInstanceOf(ConfigError);
    expect((sqliteNative as Error).message).toContain(
      'pass the tx of db.transaction((tx) => …) (a synchronous callback on better-sqlite3',
    );
  });
});
