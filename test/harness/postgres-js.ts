import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { postgresJsDriver } from '../../src/drivers/postgres-js.js';
import type { Driver } from '../../src/seam/driver.js';
import type { DialectFixture, Harness } from './fixture.js';
import { postgresUrl } from './postgres.js';

/** Rolls a savepoint back from inside `sql.savepoint` (postgres.js rolls back on a throw). */
class RollbackSavepoint extends Error {}

/** A schema of its own per harness, like the pg harness, over a postgres.js `sql`. */
export async function postgresJsHarness(
  options: { max?: number } = {},
): Promise<Harness & { pool: postgres.Sql; schema: string }> {
  const schema = `at_test_${randomBytes(6).toString('hex')}`;
  // Notices (e.g. "schema … does not exist, skipping") would only clutter the test output.
  const sql = postgres(postgresUrl, { max: options.max ?? 10, onnotice: () => undefined });
  await sql.unsafe(`CREATE SCHEMA "${schema}"`);
  const table = `"${schema}".async_task_attempts`;
  const count = async (text: string, params: string[] = []): Promise<number> => {
    const rows = await sql.unsafe<{ n: number }[]>(text, params);
    return rows[0]?.n ?? 0;
  };
  return {
    pool: sql,
    schema,
    driver: postgresJsDriver(sql) as unknown as Driver<unknown, unknown>,
    table: `${schema}.async_task_attempts`,
    async transaction(fn) {
      let result: Awaited<ReturnType<typeof fn>> | undefined;
      await sql.begin(async (tx) => {
        result = await fn(tx);
      });
      return result as Awaited<ReturnType<typeof fn>>;
    },
    async rolledBackSavepoint(tx, fn) {
      await (tx as postgres.TransactionSql)
        .savepoint(async (savepoint) => {
          await fn(savepoint);
          throw new RollbackSavepoint();
        })
        .catch((error: unknown) => {
          if (!(error instanceof RollbackSavepoint)) throw error;
        });
    },
    async rawMethodArgs(id) {
      const rows = await sql.unsafe<{ method_args: string | null }[]>(
        `SELECT method_args FROM ${table} WHERE id = $1`,
        [id],
      );
      return rows[0]?.method_args ?? null;
    },
    countAttempts: () => count(`SELECT count(*)::int AS n FROM ${table}`),
    async makeDue(id) {
      await sql.unsafe(
        `UPDATE ${table} SET scheduled_at = now() - interval '1 second' WHERE id = $1`,
        [id],
      );
    },
    async expireLease(id) {
      await sql.unsafe(
        `UPDATE ${table} SET locked_until = now() - interval '1 second' WHERE id = $1`,
        [id],
      );
    },
    async createSideTable() {
      await sql.unsafe(`CREATE TABLE "${schema}".side_effects (key text PRIMARY KEY)`);
    },
    async insertSide(handlerTx, key) {
      await (handlerTx as postgres.TransactionSql).unsafe(
        `INSERT INTO "${schema}".side_effects (key) VALUES ($1)`,
        [key],
      );
    },
    lockWaiters: () =>
      // As in the pg harness: the schema name in the query text picks out this harness's sessions.
      count(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock'
           AND position($1 in query) > 0`,
        [`"${schema}"`],
      ),
    async sideKeys() {
      const rows = await sql.unsafe<{ key: string }[]>(
        `SELECT key FROM "${schema}".side_effects ORDER BY key`,
      );
      return rows.map((row) => row.key);
    },
    childEnv() {
      return {
        // worker-child.ts writes side rows by dialect, through `tx.query(text, values)`.
        ASYNC_TASK_CHILD_DIALECT: 'postgres',
        ASYNC_TASK_CHILD_CLIENT: 'postgres.js',
        ASYNC_TASK_CHILD_URL: postgresUrl,
        ASYNC_TASK_CHILD_TABLE: `${schema}.async_task_attempts`,
      };
    },
    async close() {
      await sql.unsafe(`DROP SCHEMA "${schema}" CASCADE`);
      await sql.end({ timeout: 5 });
    },
  };
}

export const postgresJsFixture: DialectFixture = {
  label: 'postgres/postgres.js',
  dialect: 'postgres',
  setup: (options) => postgresJsHarness({ max: Math.max(10, options?.connections ?? 0) }),
};

/**
 * The driver of `childEnv()`, built in a worker child process by `child-driver.ts`. A handler's
 * `tx` (a `TransactionSql`) is handed on as `{ query(text, values) }`, which worker-child.ts calls.
 */
export function postgresJsChildDriver(
  url: string,
  table: string,
): { driver: Driver<unknown, unknown>; table: string; close: () => Promise<void> } {
  const sql = postgres(url, { max: 10, onnotice: () => undefined });
  const driver = postgresJsDriver(sql);
  const queryable = (tx: postgres.TransactionSql) => ({
    query: (text: string, values: string[]) => tx.unsafe(text, values),
  });
  return {
    driver: {
      ...driver,
      transaction: (fn) =>
        driver.transaction((connection, tx) =>
          fn(connection, queryable(tx as unknown as postgres.TransactionSql)),
        ),
    },
    table,
    close: () => sql.end({ timeout: 5 }),
  };
}
