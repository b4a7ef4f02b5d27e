import type { SqliteDatabase } from 'kysely';
import type { Driver } from '../../src/seam/driver.js';

/** Builds, in a child process, the driver a harness described with `childEnv()`. */
export async function driverFromEnv(): Promise<{
  driver: Driver<unknown, unknown>;
  table: string;
  close: () => Promise<void>;
}> {
  const dialect = process.env['ASYNC_TASK_CHILD_DIALECT'];
  const url = process.env['ASYNC_TASK_CHILD_URL'] ?? '';
  const table = process.env['ASYNC_TASK_CHILD_TABLE'] ?? 'async_task_attempts';
  // The Kysely driver keeps the dialect's name, so worker-child.ts writes its side rows as usual.
  if (process.env['ASYNC_TASK_CHILD_CLIENT'] === 'kysely')
    return kyselyFromEnv(dialect, url, table);
  if (process.env['ASYNC_TASK_CHILD_CLIENT'] === 'postgres.js')
    return (await import('./postgres-js.js')).postgresJsChildDriver(url, table);
  // Drizzle: the flavour is in ASYNC_TASK_CHILD_DRIZZLE; side rows are written as for the dialect.
  if (process.env['ASYNC_TASK_CHILD_CLIENT'] === 'drizzle')
    return (await import('./drizzle.js')).drizzleChildDriver(url, table);
  // TypeORM: the handler's EntityManager is handed on as worker-child.ts writes for the dialect.
  if (process.env['ASYNC_TASK_CHILD_CLIENT'] === 'typeorm')
    return (await import('./typeorm.js')).typeormChildDriver(dialect, url, table);
  // Prisma: the generated client of the dialect; side rows are written as for the dialect.
  if (process.env['ASYNC_TASK_CHILD_CLIENT'] === 'prisma')
    return (await import('./prisma.js')).prismaChildDriver(dialect, url, table);
  switch (dialect) {
    case 'postgres': {
      const { default: pg } = await import('pg');
      const { pgDriver } = await import('../../src/drivers/pg.js');
      // Extra pg.Pool settings (timeouts, application_name) and pgDriver options, as JSON: the
      // chaos suite's workers go through PgBouncer or a proxy that stops forwarding.
      const poolOptions = JSON.parse(process.env['ASYNC_TASK_CHILD_PG_POOL'] ?? '{}') as object;
      const driverOptions = JSON.parse(
        process.env['ASYNC_TASK_CHILD_PG_DRIVER'] ?? '{}',
      ) as Parameters<typeof pgDriver>[1];
      const pool = new pg.Pool({ connectionString: url, max: 10, ...poolOptions });
      // An idle client whose connection dies is reported here; without a listener it would crash.
      pool.on('error', (error) => process.stderr.write(`pool error: ${error.message}\n`));
      return {
        driver: pgDriver(pool, driverOptions) as unknown as Driver<unknown, unknown>,
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
    case 'postgres/knex':
    case 'mysql/knex':
    case 'sqlite/knex': {
      const { default: knex } = await import('knex');
      const { knexDriver } = await import('../../src/drivers/knex.js');
      const db =
        dialect === 'postgres/knex'
          ? knex({ client: 'pg', connection: url, pool: { min: 0, max: 10 } })
          : dialect === 'mysql/knex'
            ? knex({ client: 'mysql2', connection: url, pool: { min: 0, max: 10 } })
            : knex({
                client: 'better-sqlite3',
                connection: { filename: url },
                useNullAsDefault: true,
              });
      return {
        driver: knexDriver(db) as unknown as Driver<unknown, unknown>,
        table,
        close: () => db.destroy(),
      };
    }
    default:
      throw new Error(`child-driver: unknown dialect ${String(dialect)}`);
  }
}

/**
 * The Kysely driver over pg or mysql2. A handler's `tx` (a Kysely `Transaction`) is handed on as
 * `{ query(text, values) }`, run through that transaction, which is what worker-child.ts calls.
 */
async function kyselyFromEnv(
  dialect: string | undefined,
  url: string,
  table: string,
): Promise<{ driver: Driver<unknown, unknown>; table: string; close: () => Promise<void> }> {
  const { CompiledQuery, Kysely, MysqlDialect, PostgresDialect, SqliteDialect } =
    await import('kysely');
  const { kyselyDriver } = await import('../../src/drivers/kysely.js');
  let db: InstanceType<typeof Kysely<Record<string, never>>>;
  if (dialect === 'postgres') {
    const { default: pg } = await import('pg');
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    db = new Kysely({ dialect: new PostgresDialect({ pool }) });
  } else if (dialect === 'mysql') {
    const { createPool } = await import('mysql2');
    const pool = createPool({ uri: url, connectionLimit: 10 });
    db = new Kysely({ dialect: new MysqlDialect({ pool }) });
  } else if (dialect === 'sqlite') {
    const { Database } = await import('./sqlite.js');
    const database = new Database(url) as unknown as SqliteDatabase;
    db = new Kysely({ dialect: new SqliteDialect({ database }) });
  } else {
    throw new Error(`child-driver: no Kysely fixture for dialect ${String(dialect)}`);
  }
  const driver = kyselyDriver(db);
  const run = (trx: { executeQuery: typeof db.executeQuery }, text: string, values: unknown[]) =>
    trx.executeQuery(CompiledQuery.raw(text, values));
  return {
    driver: {
      ...driver,
      transaction: (fn) =>
        driver.transaction((connection, trx) =>
          fn(connection, {
            query: (text: string, values: unknown[]) => run(trx, text, values),
            // What worker-child.ts calls on SQLite (better-sqlite3's shape), here asynchronous.
            prepare: (text: string) => ({ run: (...values: unknown[]) => run(trx, text, values) }),
          }),
        ),
    },
    table,
    close: () => db.destroy(),
  };
}
