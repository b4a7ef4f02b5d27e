// Checked by `tsc --noEmit` only (never run): postgres.js's own types fit the structural
// interfaces of async-task/postgres, and other clients do not.
import type pg from 'pg';
import type postgres from 'postgres';
import {
  postgresJsDriver,
  type PostgresJsQueryable,
  type PostgresJsSql,
  type PostgresJsTransactionSql,
} from '../../src/drivers/postgres-js.js';
import { AsyncTask, defineTarget } from '../../src/index.js';

const Shop = defineTarget('Shop', {
  order(args: { n: number }) {
    return args.n;
  },
});

/** Never called: the body only has to type-check. */
export async function postgresJsTypes(
  sql: postgres.Sql,
  typedSql: postgres.Sql<{ bigint: bigint }>,
  reserved: postgres.ReservedSql,
  pool: pg.Pool,
  client: pg.PoolClient,
): Promise<void> {
  // The real types are assignable to the structural ones.
  const root: PostgresJsSql = sql;
  const rootWithTypes: PostgresJsSql = typedSql;
  const fromReserved: PostgresJsQueryable = reserved;
  void [root, rootWithTypes, fromReserved];

  const tasks = new AsyncTask({ driver: postgresJsDriver(sql), targets: [Shop] });
  await tasks.enqueue(sql, Shop.order, { n: 1 });
  await sql.begin(async (tx) => {
    const inTx: PostgresJsTransactionSql = tx;
    void inTx;
    await tasks.enqueue(tx, Shop.order, { n: 2 });
    await tx.savepoint(async (savepoint) => {
      await tasks.enqueue(savepoint, Shop.order, { n: 3 });
    });
  });
  await tasks.runDue({ limit: 1 });

  // Refused: node-postgres clients, in the driver and in enqueue.
  // @ts-expect-error a pg Pool is not a postgres.js sql
  postgresJsDriver(pool);
  // @ts-expect-error a pg PoolClient is not a postgres.js sql
  await tasks.enqueue(client, Shop.order, { n: 4 });
  // @ts-expect-error a pg Pool is not a postgres.js sql either
  await tasks.enqueue(pool, Shop.order, { n: 5 });
  // @ts-expect-error ctx.transaction hands a TransactionSql, not the root sql's own type
  const handlerTx: postgres.Sql = null as unknown as PostgresJsTransactionSql;
  void handlerTx;
}
