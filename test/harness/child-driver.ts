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
    case 'sqlite': {
      const { Database } = await import('./sqlite.js');
      const { betterSqlite3Driver } = await import('../../src/drivers/better-sqlite3.js');
      const db = new Database(url, { fileMustExist: true });
      const driver = betterSqlite3Driver(db);
      return {
        driver: driver as unknown as Driver<unknown, unknown>,
        table,
        close: async () => {
          await driver.close();
          db.close();
        },
      };
    }
    case 'mysql': {
      const { default: mysql } = await import('mysql2/promise');
      const { mysql2Driver } = await import('../../src/drivers/mysql2.js');
      const pool = mysql.createPool({ uri: url, connectionLimit: 10 });
      return {
        driver: mysql2Driver(pool) as unknown as Driver<unknown, unknown>,
        table,
        close: () => pool.end(),
      };
    }
    default:
      throw new Error(`child-driver: unknown dialect ${String(dialect)}`);
  }
}
