// What only the Prisma driver has: the dialect comes from the client's provider (or the option),
// enqueue takes the `tx` of an interactive `$transaction` (or the client), a nested $transaction is
// a savepoint, a handler's `ctx.transaction` hands it a Prisma `tx` that writes models, Prisma's
// errors arrive as DatabaseError, the seam's transactions become interactive transactions, and
// rows reach the dialects shaped as the native clients give them.
import { adHoc } from '../../src/dialects/statements.js';
import { PrismaPg } from '@prisma/adapter-pg';
import type mysql from 'mysql2/promise';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  betterSqlite3Driver,
  type BetterSqlite3Database,
} from '../../src/drivers/better-sqlite3.js';
import { mysql2Driver } from '../../src/drivers/mysql2.js';
import { pgDriver } from '../../src/drivers/pg.js';
import {
  PrismaRawQueryError,
  prismaDriver,
  type PrismaClientLike,
  type PrismaTransactionOf,
} from '../../src/drivers/prisma/index.js';
import type { Driver } from '../../src/seam/driver.js';
import type { SqlConnection, SqlResult } from '../../src/seam/sql-connection.js';
import {
  AsyncTask,
  AsyncTaskError,
  ConfigError,
  DatabaseError,
  SchemaOutdatedError,
  defineTarget,
  type TaskContext,
} from '../../src/index.js';
import { caught, caughtSync } from '../harness/caught.js';
import { postgresUrl } from '../harness/postgres.js';
import {
  mysqlPrismaHarness,
  postgresPrismaHarness,
  sqlitePrismaHarness,
  type PostgresPrismaClient,
  type PrismaHarness,
} from '../harness/prisma.js';
import { Prisma, PrismaClient } from '../harness/prisma/generated/postgresql/client.js';
import { Database } from '../harness/sqlite.js';
import { waitFor } from '../harness/wait-for.js';

class Rollback extends Error {}

/**
 * The three generated clients have the same model (`Order`, table `orders`); the tests are typed
 * against the PostgreSQL one and run against each.
 */
type Client = PostgresPrismaClient;
type Tx = PrismaTransactionOf<Client>;

/** The native driver on the base harness's own pool, to compare row shapes with. */
type Native = { connection: SqlConnection; close: () => void };

const cases: readonly {
  label: string;
  dialect: 'postgres' | 'mysql' | 'sqlite';
  setup: () => Promise<PrismaHarness>;
  /** A statement of the dialect's kind, with a `$1`/`?` placeholder for 'x'. */
  values: string;
  missingTable: { code: string; errno?: number };
  native: (harness: PrismaHarness) => Native;
}[] = [
  {
    label: 'postgres/prisma',
    dialect: 'postgres',
    setup: () => postgresPrismaHarness(),
    values: `SELECT 9007199254740993::int8 AS big, 2::int4 AS i, 3::int2 AS s, 1.5::float8 AS f,
      2.5::numeric AS n, true AS b, '{"a":[1,"2"]}'::json AS j, NULL::text AS nul, $1::text AS t,
      '2024-01-02T03:04:05.678Z'::timestamptz AS ts, '\\x0102'::bytea AS bytes,
      ARRAY['a','b'] AS arr, count(*)::float8 AS n_float FROM (VALUES (1), (2)) AS v(x)`,
    missingTable: { code: '42P01' },
    native: (harness) => {
      const pool = harness.nativePool as pg.Pool;
      return { connection: pgDriver(pool).connection(pool), close: () => undefined };
    },
  },
  {
    label: 'mysql/prisma',
    dialect: 'mysql',
    setup: () => mysqlPrismaHarness(),
    values: `SELECT CAST(1 AS UNSIGNED) AS big, COUNT(*) AS cnt, 1.5e0 AS f, 2.5 AS n, TRUE AS b,
      NULL AS nul, ? AS t, CAST(12 AS CHAR) AS c, UNHEX('0102') AS bytes,
      TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', '2024-01-02 03:04:05.678') DIV 1000 AS ms
      FROM (SELECT 1 AS x UNION ALL SELECT 2) AS v`,
    missingTable: { code: '1146', errno: 1146 },
    native: (harness) => {
      const pool = harness.nativePool as mysql.Pool;
      return { connection: mysql2Driver(pool).connection(pool), close: () => undefined };
    },
  },
  {
    label: 'sqlite/prisma',
    dialect: 'sqlite',
    setup: () => sqlitePrismaHarness(),
    values: `SELECT 1 AS one, count(*) AS cnt, 1.5 AS f, ? AS t, NULL AS nul, CAST(5 AS TEXT) AS c,
      CAST(round(1704164645678.0) AS INTEGER) AS ms FROM (SELECT 1 UNION ALL SELECT 2)`,
    missingTable: { code: 'SQLITE_ERROR' },
    native: (harness) => {
      const file = harness.childEnv()['ASYNC_TASK_CHILD_URL']!;
      const db = new Database(file, { fileMustExist: true }) as BetterSqlite3Database;
      return { connection: betterSqlite3Driver(db).connection(db), close: () => db.close() };
    },
  },
];

for (const { label, dialect, setup, values, missingTable, native } of cases) {
  describe(`${label}: enqueue in Prisma interactive transactions`, () => {
    let harness: PrismaHarness;
    let prisma: Client;
    const performed: number[] = [];
    const Shop = defineTarget('Shop', {
      order: async (args: { n: number }, ctx: TaskContext<Tx>) => {
        // The handler's tx is Prisma's own: it writes a model, and commits with the outcome.
        await ctx.transaction(async (tx) => {
          await tx.order.create({ data: { number: args.n } });
        });
        performed.push(args.n);
      },
    });
    let tasks: AsyncTask<Client | Tx, Tx>;

    beforeEach(async () => {
      harness = await setup();
      prisma = harness.prisma as unknown as Client;
      performed.length = 0;
      tasks = new AsyncTask({
        driver: prismaDriver(prisma),
        table: harness.table,
        targets: [Shop],
      });
      await tasks.migrate();
    });
    afterEach(() => harness.close());

    it('detects the dialect from the client; the option forces it; no LISTEN', () => {
      const driver = prismaDriver(prisma);
      expect(driver.dialect.name).toBe(dialect);
      expect('listen' in driver).toBe(false);
      expect(prismaDriver(prisma.$extends({})).dialect.name).toBe(dialect);
      const other = dialect === 'mysql' ? 'postgres' : 'mysql';
      expect(prismaDriver(prisma, { dialect: other }).dialect.name).toBe(other);
    });

    it('a $transaction that throws leaves no task; one that commits leaves one', async () => {
      const error = await caught(
        prisma.$transaction(async (tx) => {
          await tx.order.create({ data: { number: 1 } });
          await tasks.enqueue(tx, Shop.order, { n: 1 });
          throw new Rollback('boom');
        }),
      );
      expect(error).toBeInstanceOf(Rollback);
      expect(await harness.countAttempts()).toBe(0);
      expect(await prisma.order.count()).toBe(0);

      const attempt = await prisma.$transaction(async (tx) => {
        await tx.order.create({ data: { number: 2 } });
        return tasks.enqueue(tx, Shop.order, { n: 2 });
      });
      expect(await harness.countAttempts()).toBe(1);
      expect(await prisma.order.count()).toBe(1);
      expect((await tasks.get(attempt.id))?.args).toEqual({ n: 2 });
    });

    it('a nested tx.$transaction rolled back drops only its own task', async () => {
      await prisma.$transaction(async (tx) => {
        await tasks.enqueue(tx, Shop.order, { n: 1 });
        await tx
          .$transaction(async (nested) => {
            await tasks.enqueue(nested, Shop.order, { n: 2 });
            throw new Rollback('inner');
          })
          .catch((error: unknown) => {
            if (!(error instanceof Rollback)) throw error;
          });
        await tasks.enqueue(tx, Shop.order, { n: 3 });
      });
      const kept = await tasks.list({});
      expect(kept.map((attempt) => (attempt.args as { n: number }).n).sort()).toEqual([1, 3]);
    });

    it('enqueue on the client itself commits at once', async () => {
      await tasks.enqueue(prisma, Shop.order, { n: 4 });
      expect(await harness.countAttempts()).toBe(1);
    });

    it('a worker performs the task; ctx.transaction hands the handler a Prisma tx', async () => {
      await prisma.$transaction((tx) => tasks.enqueue(tx, Shop.order, { n: 7 }));
      const worker = tasks.worker({ pollIntervalMs: 50 });
      await worker.start();
      try {
        await waitFor('the task to be performed', async () => {
          const [attempt] = await tasks.list({});
          return attempt?.status === 'succeeded';
        });
      } finally {
        await worker.stop();
      }
      expect(performed).toEqual([7]);
      expect(await prisma.order.findMany({ select: { number: true } })).toEqual([{ number: 7 }]);
    });

    it('a handler whose ctx.transaction throws leaves no model row, and the task is retried', async () => {
      const Failing = defineTarget('Failing', {
        order: async (args: { n: number }, ctx: TaskContext<Tx>) => {
          await ctx.transaction(async (tx) => {
            await tx.order.create({ data: { number: args.n } });
            throw new Error('payment declined');
          });
        },
      });
      const failing = new AsyncTask({
        driver: prismaDriver(prisma),
        table: harness.table,
        targets: [Failing],
      });
      const attempt = await failing.enqueue(prisma, Failing.order, { n: 9 });
      expect(await failing.runDue()).toMatchObject({ claimed: 1, retried: 1 });
      expect(await prisma.order.count()).toBe(0);
      expect(await failing.get(attempt.id)).toMatchObject({
        status: 'pending',
        numAttempts: 1,
        lastError: 'Error: payment declined',
      });
    });

    it('errors are typed: the database refusing, a missing table, a transaction over', async () => {
      const connection = prismaDriver(prisma).connection(prisma);
      const refused = await caught(connection.query(adHoc('SELECT * FROM nope'), []));
      expect(refused).toBeInstanceOf(DatabaseError);
      const cause = (refused as DatabaseError).cause;
      expect(cause).toBeInstanceOf(PrismaRawQueryError);
      expect(cause).toMatchObject(missingTable);
      expect((cause as Error).cause).toBeInstanceOf(Prisma.PrismaClientKnownRequestError);
      expect((cause as Error).cause).toMatchObject({ code: 'P2010' });

      let finished: Tx | undefined;
      await prisma.$transaction((tx) => {
        finished = tx;
        return Promise.resolve();
      });
      const late = await caught(tasks.enqueue(finished!, Shop.order, { n: 1 }));
      expect(late).toBeInstanceOf(DatabaseError);
      expect((late as DatabaseError).cause).toBeInstanceOf(Prisma.PrismaClientKnownRequestError);
      expect((late as DatabaseError).cause).toMatchObject({ code: 'P2028' });

      await prisma.$executeRawUnsafe(
        `DROP TABLE ${dialect === 'sqlite' ? harness.table : quoted(dialect, harness.table)}`,
      );
      const missing = await caught(
        prisma.$transaction((tx) => tasks.enqueue(tx, Shop.order, { n: 1 })),
      );
      expect(missing).toBeInstanceOf(SchemaOutdatedError);
    });

    it('ctx.transaction takes transactionOptions; one that times out is a DatabaseError', async () => {
      const driver = prismaDriver(prisma, { transactionOptions: { timeout: 100 } });
      const error = await caught(
        driver.transaction(async (_connection, tx) => {
          await tx.order.create({ data: { number: 5 } });
          await sleep(300);
        }),
      );
      // Prisma rolled it back at the timeout, and refused the commit.
      expect(error).toBeInstanceOf(DatabaseError);
      expect((error as DatabaseError).cause).toBeInstanceOf(Prisma.PrismaClientKnownRequestError);
      expect((error as DatabaseError).cause).toMatchObject({ code: 'P2028' });
      expect(await prisma.order.count()).toBe(0);
      expect(() => prismaDriver(prisma, { transactionOptions: { timeout: -1 } })).toThrow(
        ConfigError,
      );
    });

    it("a unit's connection.transaction is an interactive transaction", async () => {
      const driver = prismaDriver(prisma);
      const orders =
        dialect === 'sqlite'
          ? 'orders'
          : quoted(dialect, harness.table).replace(/[^.]+$/, 'orders');
      const sql = (text: string) => adHoc(text);
      const insert = (n: number) => sql(`INSERT INTO ${orders} (number) VALUES (${n})`);
      // Where each dialect opens its own transactions: the MySQL claim's on `run` (READ
      // COMMITTED), the PostgreSQL and SQLite migrations' on `session`.
      const unit = <T>(fn: (connection: SqlConnection) => Promise<T>): Promise<T> =>
        dialect === 'mysql' ? driver.run(fn) : driver.session(fn);
      const options = dialect === 'mysql' ? ({ isolation: 'read committed' } as const) : {};
      const identity = sql(
        {
          postgres: 'SELECT txid_current()::text AS id',
          mysql:
            'SELECT trx_id AS id, trx_isolation_level AS level FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = CONNECTION_ID()',
          sqlite: 'SELECT 1 AS id',
        }[dialect],
      );

      let ids: (readonly unknown[])[] = [];
      const undone = await caught(
        unit((connection) =>
          connection.transaction(async (tx) => {
            await tx.query(insert(1), []);
            const first = await tx.query(identity, []);
            const second = await tx.query(identity, []);
            ids = [first.rows, second.rows];
            throw new Rollback('undo');
          }, options),
        ),
      );
      // The error of the function passes through as it is, and its write is rolled back.
      expect(undone).toBeInstanceOf(Rollback);
      // Both reads ran in the one transaction that wrote the row.
      expect(ids[0]).toHaveLength(1);
      expect(ids[1]).toEqual(ids[0]);
      if (dialect === 'mysql') expect(ids[0]).toMatchObject([{ level: 'READ COMMITTED' }]);
      await unit((connection) =>
        connection.transaction(async (tx) => {
          await tx.query(insert(2), []);
        }, options),
      );
      // A transaction left by a failing statement is rolled back with what it wrote.
      const failed = await caught(
        unit((connection) =>
          connection.transaction(async (tx) => {
            await tx.query(insert(3), []);
            await tx.query(sql('SELECT * FROM nope'), []);
          }, options),
        ),
      );
      expect(failed).toBeInstanceOf(DatabaseError);
      expect(await prisma.order.findMany({ select: { number: true } })).toEqual([{ number: 2 }]);
      // A transaction inside one is not something the dialects ask for: refused, not nested.
      const nested = await caught(
        unit((connection) =>
          connection.transaction((tx) => tx.transaction(() => Promise.resolve()), options),
        ),
      );
      expect(nested).toBeInstanceOf(AsyncTaskError);
    });

    it('rows reach the dialect as the native client gives them', async () => {
      const other = native(harness);
      try {
        const statement = adHoc(values);
        const mine = await prismaDriver(prisma).connection(prisma).query(statement, ['x']);
        const theirs = await other.connection.query(statement, ['x']);
        expect(mine).toEqual(theirs);
        expect(mine.rows[0]).toMatchObject({ t: 'x' });
      } finally {
        other.close();
      }
    });
  });
}

describe('postgres/prisma: values in', () => {
  let harness: PrismaHarness;
  beforeEach(async () => {
    harness = await postgresPrismaHarness();
  });
  afterEach(() => harness.close());

  it('a Date parameter is the same instant whatever the session time zone', async () => {
    // Prisma's adapter sends dates as UTC text without an offset; the driver sends ISO text.
    const tokyo = new PrismaClient({
      adapter: new PrismaPg({ connectionString: postgresUrl, options: '-c TimeZone=Asia/Tokyo' }),
    });
    try {
      const when = new Date('2024-01-02T03:04:05.678Z');
      const { rows } = await prismaDriver(tokyo)
        .connection(tokyo)
        .query(
          {
            name: '',
            text: `SELECT (extract(epoch FROM $1::timestamptz) * 1000)::float8 AS ms,
              current_setting('TimeZone') AS zone`,
            returnsRows: true,
          },
          [when],
        );
      expect(rows).toEqual([{ ms: when.getTime(), zone: 'Asia/Tokyo' }]);
    } finally {
      await tokyo.$disconnect();
    }
  });
});

describe('mysql/prisma: session', () => {
  let harness: PrismaHarness;
  beforeEach(async () => {
    harness = await mysqlPrismaHarness();
  });
  afterEach(() => harness.close());

  it('keeps one connection, so a GET_LOCK taken in it holds until released in it', async () => {
    const driver = prismaDriver(harness.prisma as unknown as Client);
    const sql = (text: string) => adHoc(text);
    const seen = await driver.session(async (connection) => {
      const ids: unknown[] = [];
      const id = async () =>
        ids.push((await connection.query(sql('SELECT CONNECTION_ID() AS id'), [])).rows[0]?.['id']);
      await id();
      await connection.query(sql('SELECT GET_LOCK(?, 1) AS acquired'), ['prisma-session-test']);
      await id();
      // DDL commits implicitly, as in a migration; the session goes on on the same connection.
      await connection.query(sql('CREATE TABLE prisma_session_test (a INT)'), []);
      await id();
      const holder = await connection.query(sql('SELECT IS_USED_LOCK(?) AS holder'), [
        'prisma-session-test',
      ]);
      await connection.query(sql('SELECT RELEASE_LOCK(?) AS released'), ['prisma-session-test']);
      return { ids, holder: holder.rows[0]?.['holder'] };
    });
    expect(new Set(seen.ids).size).toBe(1);
    expect(seen.holder).toBe(seen.ids[0]);
  });
});

describe('mysql/prisma: statements the server cannot prepare', () => {
  let harness: PrismaHarness;
  beforeEach(async () => {
    harness = await mysqlPrismaHarness();
  });
  afterEach(() => harness.close());

  // MySQL 8 cannot prepare CREATE PROCEDURE (migration 7); MariaDB can, so a statement neither
  // prepares (PREPARE itself) stands in for it here.
  it('says to give the MariaDB adapter the text protocol', async () => {
    const connection = prismaDriver(harness.prisma as unknown as Client).connection(
      harness.prisma as unknown as Client,
    );
    const refused = await caught(connection.query(adHoc("PREPARE s FROM 'SELECT 1'"), []));
    expect(refused).toBeInstanceOf(DatabaseError);
    expect((refused as DatabaseError).cause).toMatchObject({ errno: 1295 });
    expect((refused as Error).message).toContain(
      'new PrismaMariaDb(url, { useTextProtocol: true })',
    );
  });
});

describe('sqlite/prisma: statements', () => {
  let harness: PrismaHarness;
  beforeEach(async () => {
    harness = await sqlitePrismaHarness();
  });
  afterEach(() => harness.close());

  it('placeholders reach Prisma as plain ? with the parameters in order', async () => {
    const prisma = harness.prisma as unknown as Client;
    const connection = prismaDriver(prisma).connection(prisma);
    // The dialect's own statements: plain `?`, in order (a `?` in a literal is no placeholder).
    const plain: SqlResult = await connection.query(
      adHoc(`SELECT ? AS a, '?' AS literal, ? AS b`),
      ['x', 'y'],
    );
    expect(plain.rows).toEqual([{ a: 'x', literal: '?', b: 'y' }]);
  });

  it('an enqueue on the client waits for an open transaction instead of landing in it', async () => {
    const prisma = harness.prisma as unknown as Client;
    const Noop = defineTarget('Noop', { run: () => undefined });
    const tasks = new AsyncTask({
      driver: prismaDriver(prisma),
      table: harness.table,
      targets: [Noop],
    });
    await tasks.migrate();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let opened!: () => void;
    const open = new Promise<void>((resolve) => {
      opened = resolve;
    });
    const rolledBack = caught(
      prisma.$transaction(async (tx) => {
        await tx.order.create({ data: { number: 1 } });
        opened();
        await gate;
        throw new Rollback('theirs');
      }),
    );
    await open;
    const enqueued = tasks.enqueue(prisma, Noop.run, undefined);
    await sleep(50);
    release();
    expect(await rolledBack).toBeInstanceOf(Rollback);
    await enqueued;
    expect(await harness.countAttempts()).toBe(1);
    expect(await prisma.order.count()).toBe(0);
  });
});

describe('prismaDriver: what it is given', () => {
  let harness: PrismaHarness;
  beforeEach(async () => {
    harness = await sqlitePrismaHarness();
  });
  afterEach(() => harness.close());

  it('refuses what is not a PrismaClient, and a transaction in its place', async () => {
    const prisma = harness.prisma as unknown as Client;
    expect(() => prismaDriver({} as unknown as Client)).toThrow(ConfigError);
    await prisma.$transaction((tx) => {
      const error = caughtSync(() => prismaDriver(tx as unknown as Client));
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(/not a transaction/);
      return Promise.resolve();
    });
    const driver = prismaDriver(prisma) as unknown as Driver<unknown, unknown>;
    expect(() => driver.connection({ query: () => undefined })).toThrow(ConfigError);
    expect(() => prismaDriver(prisma, { dialect: 'mssql' as 'mysql' })).toThrow(ConfigError);
  });

  it('refuses a provider it does not run on, or one it cannot read, unless the dialect is given', () => {
    const stand = (provider: string | undefined): PrismaClientLike =>
      Object.assign(
        {
          $queryRawUnsafe: () => Promise.resolve([]),
          $executeRawUnsafe: () => Promise.resolve(0),
          $transaction: () => Promise.reject(new Error('unused')),
          $disconnect: () => Promise.resolve(),
        },
        provider === undefined ? {} : { _activeProvider: provider },
      );
    const sqlserver = caughtSync(() => prismaDriver(stand('sqlserver')));
    expect(sqlserver).toBeInstanceOf(ConfigError);
    expect((sqlserver as Error).message).toMatch(/"sqlserver" is not supported/);
    expect(() => prismaDriver(stand(undefined))).toThrow(/pass \{ dialect/);
    expect(prismaDriver(stand(undefined), { dialect: 'postgres' }).dialect.name).toBe('postgres');
  });
});

function quoted(dialect: 'postgres' | 'mysql', table: string): string {
  const q = dialect === 'postgres' ? '"' : '`';
  return table
    .split('.')
    .map((part) => `${q}${part}${q}`)
    .join('.');
}
