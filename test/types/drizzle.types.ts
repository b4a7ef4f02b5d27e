// Checked by `tsc --noEmit` only (never run): drizzleDriver takes a real Drizzle database of each
// flavour, and enqueue takes that flavour's own transaction (or the database), with no import
// from drizzle-orm in the driver; native clients (a pg PoolClient, a mysql2 connection, a
// better-sqlite3 Database) are refused. A handler's ctx.transaction gets Drizzle's tx (the
// database itself on better-sqlite3, whose transactions are synchronous).
import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import type { MySql2Database } from 'drizzle-orm/mysql2';
import type { NodePgDatabase } from 'drizzle-orm/node-postgres';
import { integer, pgTable } from 'drizzle-orm/pg-core';
import type { PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import type mysql from 'mysql2/promise';
import type pg from 'pg';
import type postgres from 'postgres';
import {
  drizzleDriver,
  type DrizzleHandlerTxOf,
  type DrizzleTransactionOf,
} from '../../src/drivers/drizzle/index.js';
import { AsyncTask, defineTarget, type TaskContext } from '../../src/index.js';

const orders = pgTable('orders', { number: integer('number').primaryKey() });
type PgDb = NodePgDatabase<{ orders: typeof orders }> & { $client: pg.Pool };
type PgTx = DrizzleTransactionOf<PgDb>;

const Shop = defineTarget('Shop', {
  order: async (args: { n: number }, ctx: TaskContext<PgTx>) => {
    await ctx.transaction(async (tx) => {
      // The handler's tx is Drizzle's, schema and all.
      await tx.insert(orders).values({ number: args.n });
      await tx.query.orders.findFirst();
    });
  },
});

/** Never called: the body only has to type-check. */
export async function drizzleTypes(
  pgDb: PgDb,
  postgresJsDb: PostgresJsDatabase & { $client: postgres.Sql },
  mysqlDb: MySql2Database & { $client: mysql.Pool },
  sqliteDb: BetterSQLite3Database & { $client: unknown },
  pool: pg.Pool,
  poolClient: pg.PoolClient,
  mysqlConnection: mysql.PoolConnection,
): Promise<void> {
  const tasks = new AsyncTask({ driver: drizzleDriver(pgDb), targets: [Shop] });
  await pgDb.transaction(async (tx) => {
    await tasks.enqueue(tx, Shop.order, { n: 1 });
    // A nested transaction (a savepoint) is a transaction of the same type.
    await tx.transaction((nested) => tasks.enqueue(nested, Shop.order, { n: 2 }));
  });
  await tasks.enqueue(pgDb, Shop.order, { n: 3 });
  const handlerTx: AsyncTask<PgDb | PgTx, PgTx> = tasks;
  void handlerTx;
  drizzleDriver(pgDb, { dialect: 'postgres', preparedStatements: false });

  const postgresJs = drizzleDriver(postgresJsDb);
  await postgresJsDb.transaction(async (tx) => {
    await postgresJs.transaction(() => Promise.resolve());
    const typed: DrizzleTransactionOf<typeof postgresJsDb> = tx;
    void typed;
  });

  const mysqlDriver = drizzleDriver(mysqlDb);
  await mysqlDriver.transaction(async (_connection, tx) => {
    const typed: DrizzleTransactionOf<typeof mysqlDb> = tx;
    await typed.execute('SELECT 1');
  });

  // better-sqlite3: the handler gets a database like `db`, not a transaction.
  const sqliteDriver = drizzleDriver(sqliteDb);
  await sqliteDriver.transaction(async (_connection, tx) => {
    const typed: typeof sqliteDb = tx;
    const same: DrizzleHandlerTxOf<typeof sqliteDb> = typed;
    same.run('SELECT 1');
    await Promise.resolve();
  });
  const sqliteTasks = new AsyncTask({ driver: sqliteDriver, targets: [Shop] });
  sqliteDb.transaction((tx) => void sqliteTasks.enqueue(tx, Shop.order, { n: 4 }));
  await sqliteDriver.close();

  // @ts-expect-error a pg PoolClient is not what the Drizzle driver's enqueue takes
  await tasks.enqueue(poolClient, Shop.order, { n: 5 });
  // @ts-expect-error nor is the pg Pool behind the Drizzle database
  await tasks.enqueue(pool, Shop.order, { n: 6 });
  // @ts-expect-error nor a Drizzle database of another flavour
  await tasks.enqueue(mysqlDb, Shop.order, { n: 7 });
  const mysqlTasks = new AsyncTask({ driver: mysqlDriver, targets: [] });
  // @ts-expect-error a mysql2 connection is not a Drizzle transaction
  await mysqlTasks.enqueue(mysqlConnection, Shop.order, { n: 8 });
  // @ts-expect-error drizzleDriver takes the Drizzle database, not the pg Pool
  drizzleDriver(pool);
  // @ts-expect-error unknown dialect names are refused
  drizzleDriver(pgDb, { dialect: 'mssql' });
}
