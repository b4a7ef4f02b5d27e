import { TransactionRollbackError, sql, type SQL } from 'drizzle-orm';
import { drizzle as drizzleSqlite, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { mysqlSchema, varchar } from 'drizzle-orm/mysql-core';
import { drizzle as drizzleMysql, type MySql2Database } from 'drizzle-orm/mysql2';
import { drizzle as drizzlePg, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { pgSchema, text } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePostgresJs, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import { sqliteTable, text as sqliteText } from 'drizzle-orm/sqlite-core';
import mysql from 'mysql2/promise';
import pg from 'pg';
import postgres from 'postgres';
import type { Driver } from '../../src/seam/driver.js';
import { drizzleDriver, type DrizzleTransactionOf } from '../../src/drivers/drizzle/index.js';
import type { DialectFixture, Harness, HarnessOptions } from './fixture.js';
import { mysqlHarness, mysqlUrlFor } from './mysql.js';
import { postgresHarness, postgresUrl } from './postgres.js';
import { Database, sqliteFixture, sqliteHarness } from './sqlite.js';

/**
 * The drain and kill -9 runs of worker-processes.test.ts take minutes per fixture; the Drizzle
 * fixtures still run the child-process cases of run-due, worker-leases and worker-shutdown.
 */
const multiProcessWorkers =
  "the Drizzle driver runs the native drivers' statements on the same native connections; the multi-minute drain and kill -9 runs are left to postgres/pg, postgres/postgres.js, mysql/mysql2 and sqlite/better-sqlite3";

export type PgDrizzle = NodePgDatabase & { $client: pg.Pool };
export type PostgresJsDrizzle = PostgresJsDatabase & { $client: postgres.Sql };
export type MysqlDrizzle = MySql2Database & { $client: mysql.Pool };
export type SqliteDrizzle = BetterSQLite3Database & { $client: InstanceType<typeof Database> };

/** A harness whose driver, transactions and handler writes go through a Drizzle `db`. */
export type DrizzleHarness<Db> = Harness & {
  readonly db: Db;
  /** The side table's keys, read with Drizzle's query builder through `tx` (a db or tx). */
  readSide(tx: unknown): Promise<string[]>;
};

/** A Drizzle database whose `transaction` is asynchronous (all but better-sqlite3). */
interface AsyncDrizzle {
  transaction<T>(fn: (tx: AsyncDrizzleTx) => Promise<T>): Promise<T>;
}
interface AsyncDrizzleTx extends AsyncDrizzle {
  rollback(): never;
}

/** Drizzle's nested `tx.transaction()` (a savepoint), rolled back with Drizzle's `tx.rollback()`. */
async function rolledBackNested(tx: AsyncDrizzleTx, fn: (tx: unknown) => Promise<void>) {
  await tx
    .transaction(async (inner) => {
      await fn(inner);
      inner.rollback();
    })
    .catch((error: unknown) => {
      if (!(error instanceof TransactionRollbackError)) throw error;
    });
}

/** The Harness methods that differ when the client is an asynchronous Drizzle database. */
function asyncParts(
  db: AsyncDrizzle & Parameters<typeof drizzleDriver>[0],
): Pick<Harness, 'driver' | 'pool' | 'transaction' | 'rolledBackSavepoint'> {
  return {
    driver: drizzleDriver(db),
    pool: db,
    transaction: (fn) => db.transaction((tx) => fn(tx)),
    rolledBackSavepoint: (tx, fn) => rolledBackNested(tx as AsyncDrizzleTx, fn),
  };
}

function childEnv(base: Harness, flavour: string): () => Record<string, string> {
  return () => ({
    ...base.childEnv(),
    ASYNC_TASK_CHILD_CLIENT: 'drizzle',
    ASYNC_TASK_CHILD_DRIZZLE: flavour,
  });
}

/** PostgreSQL through drizzle-orm/node-postgres, in a schema of its own (the pg harness's). */
export async function postgresDrizzleHarness(
  options: HarnessOptions = {},
): Promise<DrizzleHarness<PgDrizzle>> {
  const base = await postgresHarness({ max: 2 });
  const pool = new pg.Pool({
    connectionString: postgresUrl,
    max: Math.max(10, options.connections ?? 0),
  });
  const db = drizzlePg({ client: pool });
  const side = pgSchema(base.schema).table('side_effects', { key: text('key').primaryKey() });
  return {
    ...base,
    ...asyncParts(db),
    db,
    async insertSide(handlerTx, key) {
      await (handlerTx as DrizzleTransactionOf<PgDrizzle>).insert(side).values({ key });
    },
    async readSide(tx) {
      const rows = await (tx as PgDrizzle).select().from(side).orderBy(side.key);
      return rows.map((row) => row.key);
    },
    childEnv: childEnv(base, 'node-postgres'),
    async close() {
      await pool.end();
      await base.close();
    },
  };
}

/** PostgreSQL through drizzle-orm/postgres-js, in a schema of its own (the pg harness's). */
export async function postgresJsDrizzleHarness(
  options: HarnessOptions = {},
): Promise<DrizzleHarness<PostgresJsDrizzle>> {
  const base = await postgresHarness({ max: 2 });
  const client = postgres(postgresUrl, {
    max: Math.max(10, options.connections ?? 0),
    onnotice: () => undefined,
  });
  const db = drizzlePostgresJs({ client });
  const side = pgSchema(base.schema).table('side_effects', { key: text('key').primaryKey() });
  return {
    ...base,
    ...asyncParts(db),
    db,
    async insertSide(handlerTx, key) {
      await (handlerTx as DrizzleTransactionOf<PostgresJsDrizzle>).insert(side).values({ key });
    },
    async readSide(tx) {
      const rows = await (tx as PostgresJsDrizzle).select().from(side).orderBy(side.key);
      return rows.map((row) => row.key);
    },
    childEnv: childEnv(base, 'postgres-js'),
    async close() {
      await client.end({ timeout: 5 });
      await base.close();
    },
  };
}

/** MySQL/MariaDB through drizzle-orm/mysql2, in a database of its own (the mysql harness's). */
export async function mysqlDrizzleHarness(
  options: HarnessOptions = {},
): Promise<DrizzleHarness<MysqlDrizzle>> {
  const base = await mysqlHarness({ max: 2 });
  const pool = mysql.createPool({
    uri: mysqlUrlFor(base.database),
    connectionLimit: Math.max(10, options.connections ?? 0),
  });
  const db = drizzleMysql({ client: pool });
  const side = mysqlSchema(base.database).table('side_effects', {
    key: varchar('key', { length: 255 }).primaryKey(),
  });
  return {
    ...base,
    ...asyncParts(db),
    db,
    async insertSide(handlerTx, key) {
      await (handlerTx as DrizzleTransactionOf<MysqlDrizzle>).insert(side).values({ key });
    },
    async readSide(tx) {
      const rows = await (tx as MysqlDrizzle).select().from(side).orderBy(side.key);
      return rows.map((row) => row.key);
    },
    childEnv: childEnv(base, 'mysql2'),
    async close() {
      await pool.end();
      await base.close();
    },
  };
}

const sqliteSide = sqliteTable('side_effects', { key: sqliteText('key').primaryKey() });

/**
 * SQLite through drizzle-orm/better-sqlite3, on a file of its own (the sqlite harness's, whose
 * helpers read the file through the same connection). Drizzle's `db.transaction` is synchronous
 * and the suite's transactions await, so `transaction` opens `BEGIN IMMEDIATE` with `db.run` and
 * hands over `db` itself, whose statements (and the enqueue's) then run inside it.
 */
export async function sqliteDrizzleHarness(): Promise<DrizzleHarness<SqliteDrizzle>> {
  const base = await sqliteHarness();
  const db = drizzleSqlite({ client: base.pool });
  const driver = drizzleDriver(db);
  return {
    ...base,
    db,
    driver: driver as unknown as Driver<unknown, unknown>,
    pool: db,
    async transaction(fn) {
      db.run(sql`BEGIN IMMEDIATE`);
      try {
        const result = await fn(db);
        db.run(sql`COMMIT`);
        return result;
      } catch (error) {
        if (base.pool.inTransaction) db.run(sql`ROLLBACK`);
        throw error;
      }
    },
    /**
     * Drizzle's nested `transaction()` (a savepoint) is synchronous too: `fn` runs up to its first
     * await inside it, which covers the suite's savepoint tests (an enqueue writes synchronously),
     * and the savepoint is rolled back with Drizzle's `tx.rollback()` before `fn` is awaited.
     */
    async rolledBackSavepoint(tx, fn) {
      let pending: Promise<void> | undefined;
      try {
        (tx as SqliteDrizzle).transaction((inner) => {
          pending = fn(inner);
          inner.rollback();
        });
      } catch (error) {
        if (!(error instanceof TransactionRollbackError)) throw error;
      }
      await pending;
    },
    insertSide(handlerTx, key) {
      return new Promise<void>((resolve) => {
        (handlerTx as SqliteDrizzle).insert(sqliteSide).values({ key }).run();
        resolve();
      });
    },
    readSide: (tx) =>
      new Promise<string[]>((resolve) => {
        const rows = (tx as SqliteDrizzle).select().from(sqliteSide).orderBy(sqliteSide.key).all();
        resolve(rows.map((row) => row.key));
      }),
    childEnv: childEnv(base, 'better-sqlite3'),
    async close() {
      await driver.close();
      await base.close();
    },
  };
}

export const postgresDrizzleFixture: DialectFixture = {
  label: 'postgres/drizzle-pg',
  dialect: 'postgres',
  skips: { multiProcessWorkers },
  setup: (options) => postgresDrizzleHarness(options),
};

export const postgresJsDrizzleFixture: DialectFixture = {
  label: 'postgres/drizzle-postgres.js',
  dialect: 'postgres',
  skips: { multiProcessWorkers },
  setup: (options) => postgresJsDrizzleHarness(options),
};

export const mysqlDrizzleFixture: DialectFixture = {
  label: 'mysql/drizzle',
  dialect: 'mysql',
  skips: { multiProcessWorkers },
  tokenRollbackDeadlocks:
    'InnoDB makes waiters on a duplicate key deadlock victims (ER_LOCK_DEADLOCK) when the holder rolls back',
  setup: (options) => mysqlDrizzleHarness(options),
};

export const sqliteDrizzleFixture: DialectFixture = {
  label: 'sqlite/drizzle',
  dialect: 'sqlite',
  skips: {
    concurrentTransactions: sqliteFixture.skips!.concurrentTransactions!,
    listen:
      'SQLite has no LISTEN/NOTIFY; the Drizzle driver leaves Driver.listen undefined on SQLite',
    asyncEncryptorInTransaction:
      'better-sqlite3 transactions are synchronous, so enqueue refuses an async encryptor inside one (ConfigError); test/integration/drizzle.test.ts covers it',
    multiProcessWorkers,
  },
  setup: () => sqliteDrizzleHarness(),
};

/** `text` with `$n` (PostgreSQL) or `?` (MySQL, SQLite) placeholders, as Drizzle SQL. */
function drizzleSql(query: string, values: readonly unknown[]): SQL {
  const chunks: SQL[] = [];
  let last = 0;
  let next = 0;
  for (const match of query.matchAll(/\$(\d+)|\?/g)) {
    chunks.push(sql.raw(query.slice(last, match.index)));
    chunks.push(sql`${values[match[1] === undefined ? next++ : Number(match[1]) - 1]}`);
    last = match.index + match[0].length;
  }
  chunks.push(sql.raw(query.slice(last)));
  return sql.join(chunks);
}

/**
 * The driver of `childEnv()`, built in a worker child process by `child-driver.ts`. A handler's
 * `tx` is handed on in the shape worker-child.ts writes its side rows with for the dialect
 * (`query(text, values)`, or `prepare(text).run(...values)` on SQLite), run through that `tx`.
 */
export function drizzleChildDriver(
  url: string,
  table: string,
): { driver: Driver<unknown, unknown>; table: string; close: () => Promise<void> } {
  type Execute = (tx: unknown, query: SQL) => Promise<unknown>;
  const flavour = process.env['ASYNC_TASK_CHILD_DRIZZLE'];
  let driver: Driver<unknown, unknown>;
  let close: () => Promise<void>;
  let execute: Execute = (tx, query) => (tx as PgDrizzle).execute(query);
  switch (flavour) {
    case 'node-postgres': {
      const pool = new pg.Pool({ connectionString: url, max: 10 });
      driver = drizzleDriver(drizzlePg({ client: pool }));
      close = () => pool.end();
      break;
    }
    case 'postgres-js': {
      const client = postgres(url, { max: 10, onnotice: () => undefined });
      driver = drizzleDriver(drizzlePostgresJs({ client }));
      close = () => client.end({ timeout: 5 });
      break;
    }
    case 'mysql2': {
      const pool = mysql.createPool({ uri: url, connectionLimit: 10 });
      driver = drizzleDriver(drizzleMysql({ client: pool }));
      execute = (tx, query) => (tx as MysqlDrizzle).execute(query);
      close = () => pool.end();
      break;
    }
    case 'better-sqlite3': {
      const database = new Database(url, { fileMustExist: true });
      const sqlite = drizzleDriver(drizzleSqlite({ client: database }));
      driver = sqlite;
      close = async () => {
        await sqlite.close();
        database.close();
      };
      const prepare = (tx: unknown) => (query: string) => ({
        run: (...params: unknown[]): void => {
          (tx as SqliteDrizzle).run(drizzleSql(query, params));
        },
      });
      return {
        driver: {
          ...driver,
          transaction: (fn) =>
            driver.transaction((connection, tx) => fn(connection, { prepare: prepare(tx) })),
        },
        table,
        close,
      };
    }
    default:
      throw new Error(`child-driver: unknown Drizzle flavour ${String(flavour)}`);
  }
  return {
    driver: {
      ...driver,
      transaction: (fn) =>
        driver.transaction((connection, tx) =>
          fn(connection, {
            query: (query: string, values: unknown[]) => execute(tx, drizzleSql(query, values)),
          }),
        ),
    },
    table,
    close,
  };
}
