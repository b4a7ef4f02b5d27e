import type { Driver } from '../../src/driver/driver.js';

/** Builds, in a child process, the driver a harness described with `childEnv()`. */
export async function driverFromEnv(): Promise<{
  driver: Driver<unknown, unknown>;
  table: string;
  close: () => Promise<void>;
}> {
  const dialect = process.env['ASYNC_TASK_CHILD_DIALECT'];
  const url = process.env['ASYNC_TASK_CHILD_URL'] ?? '';
  const table = process.env['ASYNC_TASK_CHILD_TABLE'] ?? 'async_task_attempts';
  switch (dialect) {
    case 'postgres': {
      const { default: pg } = await import('pg');
      const { pgDriver } = await import('../../src/drivers/pg.js');
      const pool = new pg.Pool({ connectionString: url, max: 10 });
      return {
        driver: pgDriver(pool) as unknown as Driver<unknown, unknown>,
        table,
        close: () => pool.end(),
      };
    }
    default:
      throw new Error(`child-driver: unknown dialect ${String(dialect)}`);
  }
}
