import knexFactory, { type Knex } from 'knex';
import { knexDriver } from '../../src/drivers/knex.js';
import type { DialectFixture, Harness, HarnessOptions } from './fixture.js';
import { mysqlHarness, mysqlUrlFor } from './mysql.js';
import { postgresHarness, postgresUrl } from './postgres.js';
import { sqliteFixture, tempDatabaseFile } from './sqlite.js';

/**
 * The drain and kill -9 runs of worker-processes.test.ts take minutes per fixture; the knex
 * fixtures still run the child-process cases of worker-leases and worker-shutdown.
 */
const multiProcessWorkers =
  "the knex driver runs the native drivers' statements on the same native connections; the multi-minute drain and kill -9 runs are left to postgres/pg, mysql/mysql2 and sqlite/better-sqlite3";

/** Thrown inside a nested transaction to roll it back; swallowed by `rolledBackSavepoint`. */
class RollBackSavepoint extends Error {}

/** The Harness methods that differ when the client is knex; the rest come from the base harness. */
function knexParts(
  db: Knex,
  sideTable: string,
): Pick<Harness, 'driver' | 'pool' | 'transaction' | 'rolledBackSavepoint' | 'insertSide'> {
  return {
    driver: knexDriver(db),
    pool: db,
    transaction: (fn) => db.transaction((trx) => fn(trx)),
    async rolledBackSavepoint(tx, fn) {
      await (tx as Knex.Transaction)
        .transaction(async (inner) => {
          await fn(inner);
          throw new RollBackSavepoint();
        })
        .catch((error: unknown) => {
          if (!(error instanceof RollBackSavepoint)) throw error;
        });
    },
    async insertSide(handlerTx, key) {
      await (handlerTx as Knex.Transaction).raw(`INSERT INTO ${sideTable} (key) VALUES (?)`, [key]);
    },
  };
}

/** PostgreSQL through knex's `pg` client, in a schema of its own (the pg harness's). */
export async function postgresKnexHarness(options: HarnessOptions = {}): Promise<Harness> {
  const max = Math.max(10, options.connections ?? 0);
  const base = await postgresHarness({ max: 2 });
  const db = knexFactory({ client: 'pg', connection: postgresUrl, pool: { min: 0, max } });
  return {
    ...base,
    ...knexParts(db, `"${base.schema}".side_effects`),
    childEnv: () => ({ ...base.childEnv(), ASYNC_TASK_CHILD_DIALECT: 'postgres/knex' }),
    async close() {
      await db.destroy();
      await base.close();
    },
  };
}

/** MySQL/MariaDB through knex's `mysql2` client, in a database of its own (the mysql harness's). */
export async function mysqlKnexHarness(options: HarnessOptions = {}): Promise<Harness> {
  const max = Math.max(10, options.connections ?? 0);
  const base = await mysqlHarness({ max: 2 });
  const db = knexFactory({
    client: 'mysql2',
    connection: mysqlUrlFor(base.database),
    pool: { min: 0, max },
  });
  return {
    ...base,
    ...knexParts(db, `\`${base.database}\`.side_effects`),
    async insertSide(handlerTx, key) {
      await (handlerTx as Knex.Transaction).raw(
        `INSERT INTO \`${base.database}\`.side_effects (\`key\`) VALUES (?)`,
        [key],
      );
    },
    childEnv: () => ({ ...base.childEnv(), ASYNC_TASK_CHILD_DIALECT: 'mysql/knex' }),
    async close() {
      await db.destroy();
      await base.close();
    },
  };
}

/**
 * SQLite through knex's `better-sqlite3` client, on a file of its own. knex keeps one connection
 * to it; the harness's own SQL goes through knex too, so it queues behind open transactions
 * instead of fighting them for SQLite's lock.
 */
export function sqliteKnexHarness(): Promise<Harness> {
  const { file, remove } = tempDatabaseFile();
  const db = knexFactory({
    client: 'better-sqlite3',
    connection: { filename: file },
    useNullAsDefault: true,
  });
  const table = 'async_task_attempts';
  const nowMs = `CAST(round(unixepoch('subsec') * 1000) AS INTEGER)`;
  const rows = async <T>(sql: string, bindings: readonly Knex.Value[] = []): Promise<T[]> =>
    (await db.raw(sql, bindings)) as T[];
  return Promise.resolve({
    ...knexParts(db, 'side_effects'),
    table,
    async rawMethodArgs(id) {
      const [row] = await rows<{ method_args: string | null }>(
        `SELECT method_args FROM ${table} WHERE id = ?`,
        [id],
      );
      return row?.method_args ?? null;
    },
    async countAttempts() {
      const [row] = await rows<{ n: number }>(`SELECT count(*) AS n FROM ${table}`);
      return row?.n ?? 0;
    },
    async makeDue(id) {
      await db.raw(`UPDATE ${table} SET scheduled_at = ${nowMs} - 1000 WHERE id = ?`, [id]);
    },
    async expireLease(id) {
      await db.raw(`UPDATE ${table} SET locked_until = ${nowMs} - 1000 WHERE id = ?`, [id]);
    },
    async createSideTable() {
      await db.raw('CREATE TABLE side_effects (key TEXT PRIMARY KEY) STRICT');
    },
    async sideKeys() {
      return (await rows<{ key: string }>('SELECT key FROM side_effects ORDER BY key')).map(
        (row) => row.key,
      );
    },
    // SQLite has no row locks; this fixture skips `concurrentTransactions`, the only tests that ask.
    lockWaiters: () => Promise.resolve(0),
    childEnv: () => ({
      ASYNC_TASK_CHILD_DIALECT: 'sqlite/knex',
      ASYNC_TASK_CHILD_URL: file,
      ASYNC_TASK_CHILD_TABLE: table,
    }),
    async close() {
      await db.destroy();
      remove();
    },
  });
}

export const postgresKnexFixture: DialectFixture = {
  label: 'postgres/knex',
  dialect: 'postgres',
  skips: { multiProcessWorkers },
  setup: (options) => postgresKnexHarness(options),
};

export const mysqlKnexFixture: DialectFixture = {
  label: 'mysql/knex',
  dialect: 'mysql',
  skips: { multiProcessWorkers },
  tokenRollbackDeadlocks:
    'InnoDB makes waiters on a duplicate key deadlock victims (ER_LOCK_DEADLOCK) when the holder rolls back',
  setup: (options) => mysqlKnexHarness(options),
};

export const sqliteKnexFixture: DialectFixture = {
  label: 'sqlite/knex',
  dialect: 'sqlite',
  skips: {
    concurrentTransactions: sqliteFixture.skips!.concurrentTransactions!,
    listen: 'SQLite has no LISTEN/NOTIFY; the knex driver leaves Driver.listen undefined on SQLite',
    multiProcessWorkers,
  },
  setup: () => sqliteKnexHarness(),
};
