// Checked by `tsc --noEmit` only (never run): knexDriver takes a real `Knex` and enqueue takes
// its `Knex.Transaction` or the `Knex` itself, with no import from 'knex' in the driver; a pg Pool
// is refused in both places.
import type { Knex } from 'knex';
import type pg from 'pg';
import { AsyncTask, defineTarget, type TaskContext } from '../../src/index.js';
import { knexDriver, type KnexLike, type KnexTransactionLike } from '../../src/drivers/knex.js';

const Shop = defineTarget('Shop', {
  order: async (args: { n: number }, ctx: TaskContext<Knex.Transaction>) => {
    await ctx.transaction(async (trx) => {
      await trx('orders').insert({ n: args.n });
    });
  },
});

/** Never called: the body only has to type-check. */
export async function knexTypes(db: Knex, pool: pg.Pool): Promise<void> {
  const asKnex: KnexLike = db;
  const trxLike = (trx: Knex.Transaction): KnexTransactionLike => trx;
  void asKnex;
  void trxLike;

  const tasks = new AsyncTask({ driver: knexDriver(db), targets: [Shop] });
  await db.transaction(async (trx) => {
    await tasks.enqueue(trx, Shop.order, { n: 1 });
  });
  await tasks.enqueue(db, Shop.order, { n: 2 });
  // The handler's transaction is knex's own type.
  const handlerTx: AsyncTask<KnexLike, Knex.Transaction> = tasks;
  void handlerTx;
  knexDriver(db, { dialect: 'sqlite' });

  // @ts-expect-error a pg Pool is not a knex instance
  knexDriver(pool);
  // @ts-expect-error nor something enqueue accepts on this driver
  await tasks.enqueue(pool, Shop.order, { n: 3 });
  // @ts-expect-error unknown dialect names are refused
  knexDriver(db, { dialect: 'mssql' });
}
