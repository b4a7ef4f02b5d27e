// async-task with TypeORM on PostgreSQL (pg): a rolled-back order leaves no task; a committed one
// is performed, and its handler updates the order through the EntityManager ctx.transaction gives.
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm start
import { DataSource, EntitySchema, type EntityManager } from 'typeorm';
import { AsyncTask, defineTarget, PermanentError, type TaskContext } from 'async-task';
import { typeormDriver } from 'async-task/typeorm';

// Each run has a schema of its own, dropped at the end, so the example can run again and again.
const schema = `example_typeorm_${process.pid}`;

interface Order {
  number: number;
  fulfilled: boolean;
}

// An entity without decorators: no reflect-metadata setup, no compiler flags.
const Order = new EntitySchema<Order>({
  name: 'Order',
  tableName: 'orders',
  schema,
  columns: {
    number: { type: 'int', primary: true },
    fulfilled: { type: 'boolean', default: false },
  },
});

const dataSource = new DataSource({
  type: 'postgres',
  url: process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test',
  entities: [Order],
});

const fulfilled: number[] = [];

// A target: a named singleton whose methods can be enqueued as tasks.
export const OrderClient = defineTarget('OrderClient', {
  async fulfill(args: { orderNumber: number }, ctx: TaskContext<EntityManager>) {
    if (args.orderNumber < 0) throw new PermanentError('order numbers are positive');
    // Writes made through ctx.transaction commit together with the task's success.
    await ctx.transaction(async (manager) => {
      await manager.update(Order, { number: args.orderNumber }, { fulfilled: true });
    });
    fulfilled.push(args.orderNumber);
  },
});

const tasks = new AsyncTask({
  driver: typeormDriver(dataSource),
  targets: [OrderClient],
  table: `${schema}.async_task_attempts`,
});

async function placeOrder(orderNumber: number, options: { rollBack: boolean }): Promise<void> {
  try {
    await dataSource.transaction(async (manager) => {
      await manager.insert(Order, { number: orderNumber });
      await tasks.enqueue(
        manager,
        OrderClient.fulfill,
        { orderNumber },
        { idempotenceToken: `fulfill-${orderNumber}` },
      );
      if (options.rollBack) throw new Error(`order ${orderNumber} rolled back on purpose`);
    });
  } catch (error) {
    console.log(`  ${(error as Error).message}`);
  }
}

await dataSource.initialize();
try {
  await dataSource.query(`CREATE SCHEMA ${schema}`);
  await dataSource.synchronize();
  await tasks.migrate();

  console.log('placing order 7355608 and rolling it back, then order 7355609 and committing it');
  await placeOrder(7355608, { rollBack: true });
  await placeOrder(7355609, { rollBack: false });

  const pending = await tasks.list({ status: 'pending' });
  console.log(
    `tasks waiting: ${pending.length} (${pending.map((a) => JSON.stringify(a.args)).join(', ')})`,
  );

  const pass = await tasks.runDue({ limit: 100 });
  console.log(`runDue: ${JSON.stringify(pass)}`);

  const rows = await dataSource.manager.find(Order, { order: { number: 'ASC' } });
  console.log(`orders: ${JSON.stringify(rows)}`);
  const attempts = await tasks.list();
  console.log(
    `attempts: ${attempts.map((a) => `${a.id} ${a.status} (${a.numAttempts} run)`).join(', ')}`,
  );

  const ok =
    pending.length === 1 &&
    fulfilled.length === 1 &&
    fulfilled[0] === 7355609 &&
    rows.length === 1 &&
    rows[0]?.fulfilled === true &&
    attempts.length === 1 &&
    attempts[0]?.status === 'succeeded';
  console.log(
    ok ? 'OK: no task for the rolled-back order; the committed one was performed once' : 'FAILED',
  );
  process.exitCode = ok ? 0 : 1;
} finally {
  await dataSource.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await dataSource.destroy();
}
