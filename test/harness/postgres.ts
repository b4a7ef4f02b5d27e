import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const postgresUrl =
  process.env['ASYNC_TASK_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface PostgresFixture {
  readonly pool: pg.Pool;
  /** A schema of its own, so test files run in parallel without seeing each other's rows. */
  readonly schema: string;
  /** `schema.async_task_attempts` */
  readonly table: string;
  close(): Promise<void>;
}

/** An isolated schema and a pool; `close()` drops the schema. */
export async function postgresFixture(options: { max?: number } = {}): Promise<PostgresFixture> {
  const schema = `at_test_${randomBytes(6).toString('hex')}`;
  const pool = new pg.Pool({ connectionString: postgresUrl, max: options.max ?? 10 });
  await pool.query(`CREATE SCHEMA "${schema}"`);
  return {
    pool,
    schema,
    table: `${schema}.async_task_attempts`,
    async close() {
      await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
      await pool.end();
    },
  };
}
