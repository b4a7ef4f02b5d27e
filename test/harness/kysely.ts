import {
  Kysely,
  MysqlDialect,
  PostgresDialect,
  SqliteDialect,
  sql,
  type SqliteDatabase,
  type Transaction,
} from 'kysely';
import { kyselyDriver } from '../../src/drivers/kysely.js';
import type { DialectFixture, Harness } from './fixture.js';
import { mysqlHarness } from './mysql.js';
import { postgresHarness } from './postgres.js';
import { Database, sqliteFixture, tempDatabaseFile } from './sqlite.js';

/** No tables are typed: the suite only runs raw SQL through Kysely. */
export type AnyDb = Record<string, never>;

export type KyselyHarness = Harness & { readonly db: Kysely<AnyDb> };

/**
 * The heavy multi-process runs took about 100 s for the two Kysely fixtures together (and passed);
 * the same dialect SQL runs them under the native drivers, and the child-process tests of
 * worker-leases and worker-shutdown still run on this driver. Delete the skip to run them.
 */
const multiProcessWorkers =
  'the Kysely driver runs the native drivers’ dialect SQL through Kysely; the 4-process drain and kill -9 runs (about 50 s per fixture) are left to postgres/pg, mysql/mysql2 and sqlite/better-sqlite3';

/**
 * A base harness (its own schema or database, its helpers in plain SQL on the native pool) with
 * the driver, transactions and the handler-side writes going through a Kysely instance over the
 * same pool. The base harness ends the pool, so the Kysely instance is never destroyed here.
 */
function overKysely(
  base: Harness,
  db: Kysely<AnyDb>,
  options: { sideTable: string; keyColumn: string },
): KyselyHarness {
  return {
    ...base,
    db,
    driver: kyselyDriver(db),
    pool: db,
    transaction: (fn) => db.transaction().execute((trx) => fn(trx)),
    async rolledBackSavepoint(tx, fn) {
      const trx = tx as Transaction<AnyDb>;
      await sql`SAVEPOINT nested`.execute(trx);
      await fn(trx);
      await sql`ROLLBACK TO SAVEPOINT nested`.execute(trx);
    },
    async insertSide(handlerTx, key) {
      await sql`INSERT INTO ${sql.raw(options.sideTable)} (${sql.raw(options.keyColumn)}) VALUES (${key})`.execute(
        handlerTx as Transaction<AnyDb>,
      );
    },
    childEnv: () => ({ ...base.childEnv(), ASYNC_TASK_CHILD_CLIENT: 'kysely' }),
  };
}

export async function postgresKyselyHarness(
  options: { max?: number } = {},
): Promise<KyselyHarness> {
  const base = await postgresHarness(options);
  const db = new Kysely<AnyDb>({ dialect: new PostgresDialect({ pool: base.pool }) });
  return overKysely(base, db, {
    sideTable: `"${base.schema}".side_effects`,
    keyColumn: 'key',
  });
}

export async function mysqlKyselyHarness(options: { max?: number } = {}): Promise<KyselyHarness> {
  const base = await mysqlHarness(options);
  // Kysely's MysqlDialect takes mysql2's callback pool, which the promise pool wraps.
  const db = new Kysely<AnyDb>({ dialect: new MysqlDialect({ pool: base.pool.pool }) });
  return overKysely(base, db, {
    sideTable: `\`${base.database}\`.side_effects`,
    keyColumn: '`key`',
  });
}

export const postgresKyselyFixture: DialectFixture = {
  label: 'postgres/kysely',
  dialect: 'postgres',
  skips: {
    listen: 'Kysely has no LISTEN/NOTIFY API; the Kysely driver leaves Driver.listen undefined',
    multiProcessWorkers,
  },
  setup: (options) => postgresKyselyHarness({ max: Math.max(10, options?.connections ?? 0) }),
};

export const mysqlKyselyFixture: DialectFixture = {
  label: 'mysql/kysely',
  dialect: 'mysql',
  skips: { multiProcessWorkers },
  tokenRollbackDeadlocks:
    'InnoDB makes waiters on a duplicate key deadlock victims (ER_LOCK_DEADLOCK) when the holder rolls back',
  setup: (options) => mysqlKyselyHarness({ max: Math.max(10, options?.connections ?? 0) }),
};

/**
 * SQLite through Kysely's SqliteDialect over better-sqlite3, on a file of its own. Kysely runs
 * everything on its one connection, one caller at a time; the harness's own SQL goes through it
 * too, so it queues behind open transactions instead of fighting them for SQLite's lock.
 */
export function sqliteKyselyHarness(): Promise<KyselyHarness> {
  const { file, remove } = tempDatabaseFile();
  const database = new Database(file) as unknown as SqliteDatabase;
  const db = new Kysely<AnyDb>({ dialect: new SqliteDialect({ database }) });
  const table = 'async_task_attempts';
  const nowMs = sql.raw(`CAST(round(unixepoch('subsec') * 1000) AS INTEGER)`);
  const attempts = sql.raw(table);
  const base: Harness = {
    driver: kyselyDriver(db),
    pool: db,
    table,
    transaction: (fn) => db.transaction().execute((trx) => fn(trx)),
    rolledBackSavepoint: () => Promise.reject(new Error('set by overKysely')),
    async rawMethodArgs(id) {
      const { rows } = await sql<{
        method_args: string | null;
      }>`SELECT method_args FROM ${attempts} WHERE id = ${id}`.execute(db);
      return rows[0]?.method_args ?? null;
    },
    async countAttempts() {
      const { rows } = await sql<{ n: number }>`SELECT count(*) AS n FROM ${attempts}`.execute(db);
      return rows[0]?.n ?? 0;
    },
    async makeDue(id) {
      await sql`UPDATE ${attempts} SET scheduled_at = ${nowMs} - 1000 WHERE id = ${id}`.execute(db);
    },
    async expireLease(id) {
      await sql`UPDATE ${attempts} SET locked_until = ${nowMs} - 1000 WHERE id = ${id}`.execute(db);
    },
    async createSideTable() {
      await sql`CREATE TABLE side_effects (key TEXT PRIMARY KEY) STRICT`.execute(db);
    },
    insertSide: () => Promise.reject(new Error('set by overKysely')),
    async sideKeys() {
      const { rows } = await sql<{
        key: string;
      }>`SELECT key FROM side_effects ORDER BY key`.execute(db);
      return rows.map((row) => row.key);
    },
    // SQLite has no row locks; this fixture skips `concurrentTransactions`, the only tests that ask.
    lockWaiters: () => Promise.resolve(0),
    childEnv: () => ({
      ASYNC_TASK_CHILD_DIALECT: 'sqlite',
      ASYNC_TASK_CHILD_URL: file,
      ASYNC_TASK_CHILD_TABLE: table,
    }),
    async close() {
      await db.destroy();
      remove();
    },
  };
  return Promise.resolve(overKysely(base, db, { sideTable: 'side_effects', keyColumn: 'key' }));
}

export const sqliteKyselyFixture: DialectFixture = {
  label: 'sqlite/kysely',
  dialect: 'sqlite',
  skips: {
    concurrentTransactions: sqliteFixture.skips!.concurrentTransactions!,
    listen: 'Kysely has no LISTEN/NOTIFY API, and SQLite has none either',
    multiProcessWorkers,
  },
  setup: () => sqliteKyselyHarness(),
};
