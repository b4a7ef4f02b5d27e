import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaMariaDb } from '@prisma/adapter-mariadb';
import { PrismaPg } from '@prisma/adapter-pg';
import { prismaDriver, type PrismaQueryable } from '../../src/drivers/prisma/index.js';
import type { Driver } from '../../src/seam/driver.js';
import type { DialectFixture, Harness, HarnessOptions } from './fixture.js';
import { mysqlHarness, mysqlUrlFor } from './mysql.js';
import { postgresHarness, postgresUrl } from './postgres.js';
import { PrismaClient as MysqlPrismaClient } from './prisma/generated/mysql/client.js';
import { PrismaClient as PostgresPrismaClient } from './prisma/generated/postgresql/client.js';
import { PrismaClient as SqlitePrismaClient } from './prisma/generated/sqlite/client.js';
import { sqliteFixture, tempDatabaseFile } from './sqlite.js';

export { MysqlPrismaClient, PostgresPrismaClient, SqlitePrismaClient };

/**
 * The drain and kill -9 runs of worker-processes.test.ts pass on the Prisma fixtures (measured
 * once: about 60 s on PostgreSQL, 30 s on MySQL, 17 s on SQLite); the child-process cases of
 * worker-leases and worker-shutdown still run on this driver. Delete the skip to run them.
 */
const multiProcessWorkers =
  "the Prisma driver runs the native drivers' dialect SQL through Prisma's raw queries; the 4-process drain and kill -9 runs (17-60 s per fixture) are left to postgres/pg, mysql/mysql2 and sqlite/better-sqlite3";

const listen =
  'Prisma has no LISTEN/NOTIFY API; the Prisma driver leaves Driver.listen undefined and workers poll';

/** Thrown inside a nested transaction to roll it back; swallowed by `rolledBackSavepoint`. */
class RollBackSavepoint extends Error {}

/** What the harness needs of any generated client: raw SQL and interactive transactions. */
interface AnyPrismaClient extends PrismaQueryable {
  $transaction<R>(
    fn: (tx: PrismaTransaction) => Promise<R>,
    options?: { maxWait?: number; timeout?: number },
  ): Promise<R>;
  $disconnect(): Promise<void>;
}

interface PrismaTransaction extends PrismaQueryable {
  $transaction<R>(fn: (tx: PrismaTransaction) => Promise<R>): Promise<R>;
}

/** The suite's transactions may stay open while other work waits on them: generous limits. */
const harnessTransaction = { maxWait: 30_000, timeout: 120_000 };

export type PrismaHarness = Harness & {
  readonly prisma: AnyPrismaClient;
  /** The base harness's own pool (pg, mysql2), or null on SQLite. */
  readonly nativePool: unknown;
};

/** The Harness methods that differ when the client is Prisma; the rest come from the base harness. */
function prismaParts(
  prisma: AnyPrismaClient,
  insertSideSql: string,
): Pick<
  PrismaHarness,
  'prisma' | 'driver' | 'pool' | 'transaction' | 'rolledBackSavepoint' | 'insertSide'
> {
  return {
    prisma,
    driver: prismaDriver(prisma),
    pool: prisma,
    transaction: (fn) => prisma.$transaction((tx) => fn(tx), harnessTransaction),
    // Prisma 7 runs a nested $transaction as a savepoint of the outer one.
    async rolledBackSavepoint(tx, fn) {
      await (tx as PrismaTransaction)
        .$transaction(async (inner) => {
          await fn(inner);
          throw new RollBackSavepoint();
        })
        .catch((error: unknown) => {
          if (!(error instanceof RollBackSavepoint)) throw error;
        });
    },
    async insertSide(handlerTx, key) {
      await (handlerTx as PrismaTransaction).$executeRawUnsafe(insertSideSql, key);
    },
  };
}

/** PostgreSQL through Prisma's pg adapter, in a schema of its own (the pg harness's). */
export async function postgresPrismaHarness(options: HarnessOptions = {}): Promise<PrismaHarness> {
  const max = Math.max(10, options.connections ?? 0);
  const base = await postgresHarness({ max: 2 });
  // Model queries go to the harness's schema; async-task's SQL names it itself.
  await base.pool.query(
    `CREATE TABLE "${base.schema}".orders (id serial PRIMARY KEY, number integer NOT NULL UNIQUE)`,
  );
  const prisma = new PostgresPrismaClient({
    adapter: new PrismaPg({ connectionString: postgresUrl, max }, { schema: base.schema }),
  }) as unknown as AnyPrismaClient;
  return {
    ...base,
    ...prismaParts(prisma, `INSERT INTO "${base.schema}".side_effects (key) VALUES ($1)`),
    nativePool: base.pool,
    childEnv: () => ({ ...base.childEnv(), ASYNC_TASK_CHILD_CLIENT: 'prisma' }),
    async close() {
      await prisma.$disconnect();
      await base.close();
    },
  };
}

/** MySQL/MariaDB through Prisma's MariaDB adapter, in a database of its own (the mysql harness's). */
export async function mysqlPrismaHarness(options: HarnessOptions = {}): Promise<PrismaHarness> {
  const max = Math.max(10, options.connections ?? 0);
  const base = await mysqlHarness({ max: 2 });
  const quoted = `\`${base.database}\``;
  await base.pool.query(
    `CREATE TABLE ${quoted}.orders (id INT AUTO_INCREMENT PRIMARY KEY, number INT NOT NULL UNIQUE) ENGINE = InnoDB`,
  );
  const url = new URL(mysqlUrlFor(base.database));
  url.searchParams.set('connectionLimit', String(max));
  const prisma = new MysqlPrismaClient({
    adapter: new PrismaMariaDb(url.toString()),
  }) as unknown as AnyPrismaClient;
  return {
    ...base,
    ...prismaParts(prisma, `INSERT INTO ${quoted}.side_effects (\`key\`) VALUES (?)`),
    nativePool: base.pool,
    childEnv: () => ({ ...base.childEnv(), ASYNC_TASK_CHILD_CLIENT: 'prisma' }),
    async close() {
      await prisma.$disconnect();
      await base.close();
    },
  };
}

/**
 * SQLite through Prisma's better-sqlite3 adapter, on a file of its own (WAL, as a multi-process
 * deployment would set it). The adapter has one connection; the harness's own SQL runs in
 * interactive transactions, so it queues behind open ones instead of landing inside them.
 */
export async function sqlitePrismaHarness(): Promise<PrismaHarness> {
  const { file, remove } = tempDatabaseFile();
  const prisma = new SqlitePrismaClient({
    adapter: new PrismaBetterSqlite3({ url: `file:${file}` }),
  }) as unknown as AnyPrismaClient;
  const table = 'async_task_attempts';
  const nowMs = `CAST(round(unixepoch('subsec') * 1000) AS INTEGER)`;
  const rows = <T>(sql: string, ...values: unknown[]): Promise<T[]> =>
    prisma.$transaction(async (tx) => (await tx.$queryRawUnsafe(sql, ...values)) as T[]);
  const write = (sql: string, ...values: unknown[]): Promise<number> =>
    prisma.$transaction(async (tx) => tx.$executeRawUnsafe(sql, ...values));
  // Outside a transaction (SQLite refuses the switch inside one); nothing else runs yet.
  await prisma.$queryRawUnsafe('PRAGMA journal_mode = WAL');
  await write(
    'CREATE TABLE orders (id INTEGER PRIMARY KEY AUTOINCREMENT, number INTEGER NOT NULL UNIQUE)',
  );
  return {
    ...prismaParts(prisma, 'INSERT INTO side_effects (key) VALUES (?)'),
    nativePool: null,
    table,
    async rawMethodArgs(id) {
      const [row] = await rows<{ method_args: string | null }>(
        `SELECT method_args FROM ${table} WHERE id = ?`,
        Number(id),
      );
      return row?.method_args ?? null;
    },
    async countAttempts() {
      const [row] = await rows<{ n: bigint }>(`SELECT count(*) AS n FROM ${table}`);
      return Number(row?.n ?? 0);
    },
    async makeDue(id) {
      await write(`UPDATE ${table} SET scheduled_at = ${nowMs} - 1000 WHERE id = ?`, Number(id));
    },
    async expireLease(id) {
      await write(`UPDATE ${table} SET locked_until = ${nowMs} - 1000 WHERE id = ?`, Number(id));
    },
    async createSideTable() {
      await write('CREATE TABLE side_effects (key TEXT PRIMARY KEY) STRICT');
    },
    async sideKeys() {
      return (await rows<{ key: string }>('SELECT key FROM side_effects ORDER BY key')).map(
        (row) => row.key,
      );
    },
    // SQLite has no row locks; this fixture skips `concurrentTransactions`, the only tests that ask.
    lockWaiters: () => Promise.resolve(0),
    childEnv: () => ({
      ASYNC_TASK_CHILD_DIALECT: 'sqlite',
      ASYNC_TASK_CHILD_CLIENT: 'prisma',
      ASYNC_TASK_CHILD_URL: file,
      ASYNC_TASK_CHILD_TABLE: table,
    }),
    async close() {
      await prisma.$disconnect();
      remove();
    },
  };
}

export const postgresPrismaFixture: DialectFixture = {
  label: 'postgres/prisma',
  dialect: 'postgres',
  skips: { listen, multiProcessWorkers },
  setup: (options) => postgresPrismaHarness(options),
};

export const mysqlPrismaFixture: DialectFixture = {
  label: 'mysql/prisma',
  dialect: 'mysql',
  skips: { multiProcessWorkers },
  tokenRollbackDeadlocks:
    'InnoDB makes waiters on a duplicate key deadlock victims (ER_LOCK_DEADLOCK) when the holder rolls back',
  setup: (options) => mysqlPrismaHarness(options),
};

export const sqlitePrismaFixture: DialectFixture = {
  label: 'sqlite/prisma',
  dialect: 'sqlite',
  skips: {
    concurrentTransactions: sqliteFixture.skips!.concurrentTransactions!,
    listen: 'SQLite has no LISTEN/NOTIFY, and Prisma has no LISTEN API',
    multiProcessWorkers,
  },
  setup: () => sqlitePrismaHarness(),
};

/**
 * The driver of `childEnv()`, built in a worker child process by `child-driver.ts`. A handler's
 * `tx` (a Prisma transaction client) is handed on as worker-child.ts writes its side rows with it:
 * `query(text, values)`, and `prepare(text).run(...values)` on SQLite, both run through `tx`.
 */
export function prismaChildDriver(
  dialect: string | undefined,
  url: string,
  table: string,
): { driver: Driver<unknown, unknown>; table: string; close: () => Promise<void> } {
  let prisma: AnyPrismaClient;
  if (dialect === 'postgres') {
    prisma = new PostgresPrismaClient({
      adapter: new PrismaPg({ connectionString: url, max: 10 }),
    });
  } else if (dialect === 'mysql') {
    prisma = new MysqlPrismaClient({
      adapter: new PrismaMariaDb(url),
    });
  } else if (dialect === 'sqlite') {
    prisma = new SqlitePrismaClient({
      adapter: new PrismaBetterSqlite3({ url: `file:${url}` }),
    });
  } else {
    throw new Error(`child-driver: no Prisma fixture for dialect ${String(dialect)}`);
  }
  const driver = prismaDriver(prisma) as unknown as Driver<unknown, unknown>;
  return {
    driver: {
      ...driver,
      transaction: (fn) =>
        driver.transaction((connection, tx) =>
          fn(connection, {
            query: (text: string, values: unknown[]) =>
              (tx as PrismaTransaction).$executeRawUnsafe(text, ...values),
            // What worker-child.ts calls on SQLite (better-sqlite3's shape), here asynchronous.
            prepare: (text: string) => ({
              run: (...values: unknown[]) =>
                (tx as PrismaTransaction).$executeRawUnsafe(text, ...values),
            }),
          }),
        ),
    },
    table,
    close: () => prisma.$disconnect(),
  };
}
