import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { pgDriver } from '../../src/drivers/pg.js';
import type { Driver } from '../../src/seam/driver.js';
import type { DialectFixture, Harness } from './fixture.js';

export const postgresUrl =
  process.env['ASYNC_TASK_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * A schema of its own per harness, so test files run in parallel without seeing each other.
 * `url`: another server than the shared one (a private cluster).
 */
export async function postgresHarness(
  options: { max?: number; url?: string } = {},
): Promise<Harness & { pool: pg.Pool; schema: string }> {
  const schema = `at_test_${randomBytes(6).toString('hex')}`;
  const url = options.url ?? postgresUrl;
  const pool = new pg.Pool({ connectionString: url, max: options.max ?? 10 });
  // A private server the test restarts kills idle connections: reported, not a crash.
  if (options.url !== undefined) pool.on('error', () => undefined);
  await pool.query(`CREATE SCHEMA "${schema}"`);
  const table = `"${schema}".async_task_attempts`;
  return {
    pool,
    schema,
    driver: pgDriver(pool) as unknown as Driver<unknown, unknown>,
    table: `${schema}.async_task_attempts`,
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      } finally {
        client.release();
      }
    },
    async rolledBackSavepoint(tx, fn) {
      const client = tx as pg.PoolClient;
      await client.query('SAVEPOINT nested');
      await fn(client);
      await client.query('ROLLBACK TO SAVEPOINT nested');
    },
    async rawMethodArgs(id) {
      const { rows } = await pool.query<{ method_args: string | null }>(
        `SELECT method_args FROM ${table} WHERE id = $1`,
        [id],
      );
      return rows[0]?.method_args ?? null;
    },
    async countAttempts() {
      const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
      return rows[0]?.n ?? 0;
    },
    async makeDue(id) {
      await pool.query(
        `UPDATE ${table} SET scheduled_at = now() - interval '1 second' WHERE id = $1`,
        [id],
      );
    },
    async expireLease(id) {
      await pool.query(
        `UPDATE ${table} SET locked_until = now() - interval '1 second' WHERE id = $1`,
        [id],
      );
    },
    async createSideTable() {
      await pool.query(`CREATE TABLE "${schema}".side_effects (key text PRIMARY KEY)`);
    },
    async insertSide(handlerTx, key) {
      await (handlerTx as pg.PoolClient).query(
        `INSERT INTO "${schema}".side_effects (key) VALUES ($1)`,
        [key],
      );
    },
    async lockWaiters() {
      // Every statement async-task sends names the table by its schema, so the schema name in
      // the query text picks out this harness's sessions among parallel test files.
      const { rows } = await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock'
           AND position($1 in query) > 0`,
        [`"${schema}"`],
      );
      return rows[0]?.n ?? 0;
    },
    async sideKeys() {
      const { rows } = await pool.query<{ key: string }>(
        `SELECT key FROM "${schema}".side_effects ORDER BY key`,
      );
      return rows.map((row) => row.key);
    },
    childEnv() {
      return {
        ASYNC_TASK_CHILD_DIALECT: 'postgres',
        ASYNC_TASK_CHILD_URL: url,
        ASYNC_TASK_CHILD_TABLE: `${schema}.async_task_attempts`,
      };
    },
    async close() {
      await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
      await pool.end();
    },
  };
}

export const postgresFixture: DialectFixture = {
  label: 'postgres/pg',
  dialect: 'postgres',
  setup: (options) => postgresHarness({ max: Math.max(10, options?.connections ?? 0) }),
};
