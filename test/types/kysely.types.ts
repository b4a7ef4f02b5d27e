// Checked by `tsc --noEmit` only (never run): the Kysely driver takes a real `Kysely<DB>`, and
// enqueue takes its `Transaction<DB>` (or the instance, or a controlled transaction), while a
// native client such as a pg Pool is refused; a handler's ctx.transaction gets `Transaction<DB>`.
import type { ControlledTransaction, Kysely, Transaction } from 'kysely';
import type pg from 'pg';
import { kyselyDriver } from '../../src/drivers/kysely.js';
import { AsyncTask, defineTarget } from '../../src/index.js';

interface DB {
  orders: { id: number; number: number };
}

const OrderClient = defineTarget('OrderClient', {
  async fulfill(args: { orderNumber: number }) {
    await Promise.resolve(args.orderNumber);
  },
});

/** Never called: the body only has to type-check. */
export async function kyselyTypes(
  db: Kysely<DB>,
  controlled: ControlledTransaction<DB>,
  pool: pg.Pool,
): Promise<void> {
  const driver = kyselyDriver(db, { dialect: 'postgres' });
  const tasks = new AsyncTask({ driver, targets: [OrderClient] });

  await db.transaction().execute(async (trx: Transaction<DB>) => {
    await trx.insertInto('orders').values({ id: 1, number: 7 }).execute();
    await tasks.enqueue(trx, OrderClient.fulfill, { orderNumber: 7 });
  });
  await tasks.enqueue(db, OrderClient.fulfill, { orderNumber: 8 });
  await tasks.enqueue(controlled, OrderClient.fulfill, { orderNumber: 9 });
  const afterSavepoint = await controlled.savepoint('before_task').execute();
  await tasks.enqueue(afterSavepoint, OrderClient.fulfill, { orderNumber: 10 });

  // The handler's transaction is Kysely's own Transaction<DB>.
  await driver.transaction(async (_connection, trx) => {
    const typed: Transaction<DB> = trx;
    await typed.selectFrom('orders').selectAll().execute();
  });

  // Refused: a native client is not a Kysely instance or transaction.
  // @ts-expect-error a pg Pool is not what the Kysely driver's enqueue takes
  await tasks.enqueue(pool, OrderClient.fulfill, { orderNumber: 11 });
  // @ts-expect-error kyselyDriver takes the Kysely instance, not a pg Pool
  kyselyDriver(pool);
  // @ts-expect-error a dialect async-task does not have
  kyselyDriver(db, { dialect: 'mssql' });
}
