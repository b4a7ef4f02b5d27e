// Checked by `tsc --noEmit` only (never run): typeormDriver takes a real `DataSource` and enqueue
// takes TypeORM's own `EntityManager` (of a transaction, of a QueryRunner, or dataSource.manager);
// a DataSource, a QueryRunner or a pg client in its place is refused.
import type pg from 'pg';
import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { AsyncTask, defineTarget, type TaskContext } from '../../src/index.js';
import { typeormDriver, type TypeormDriver } from '../../src/drivers/typeorm/index.js';

interface Order {
  id: number;
  n: number;
}

const Shop = defineTarget('Shop', {
  order: async (args: { n: number }, ctx: TaskContext<EntityManager>) => {
    await ctx.transaction(async (manager) => {
      await manager.getRepository<Order>('Order').save({ n: args.n });
    });
  },
});

/** Never called: the body only has to type-check. */
export async function typeormTypes(
  dataSource: DataSource,
  runner: QueryRunner,
  client: pg.PoolClient,
): Promise<void> {
  const driver: TypeormDriver = typeormDriver(dataSource);
  const tasks = new AsyncTask({ driver, targets: [Shop] });
  await dataSource.transaction(async (manager) => {
    await tasks.enqueue(manager, Shop.order, { n: 1 });
  });
  await runner.startTransaction();
  await tasks.enqueue(runner.manager, Shop.order, { n: 2 });
  await runner.commitTransaction();
  await tasks.enqueue(dataSource.manager, Shop.order, { n: 3 });
  // The handler's transaction is TypeORM's EntityManager.
  const handlerTx: AsyncTask<EntityManager, EntityManager> = tasks;
  void handlerTx;
  typeormDriver(dataSource, { dialect: 'sqlite', preparedStatements: false });
  await driver.close();

  // @ts-expect-error a DataSource is not what enqueue accepts: pass an EntityManager
  await tasks.enqueue(dataSource, Shop.order, { n: 4 });
  // @ts-expect-error nor a QueryRunner (its manager is)
  await tasks.enqueue(runner, Shop.order, { n: 5 });
  // @ts-expect-error nor a raw pg client
  await tasks.enqueue(client, Shop.order, { n: 6 });
  // @ts-expect-error typeormDriver takes the DataSource, not a manager
  typeormDriver(dataSource.manager);
  // @ts-expect-error unknown dialect names are refused
  typeormDriver(dataSource, { dialect: 'mssql' });
}
