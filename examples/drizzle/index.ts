// async-task with Drizzle ORM over node-postgres: a rolled-back order leaves no task; a committed
// one is performed, and its handler updates the order with Drizzle inside ctx.transaction.
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm start
import { asc, eq, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { boolean, integer, pgSchema } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { AsyncTask, defineTarget, PermanentError, type TaskContext } from 'async-task';
import { drizzleDriver, type DrizzleTransactionOf } from 'async-task/drizzle';

const pool = new pg.Pool({
  connectionString: process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test',
});
// A schema of its own, so the example can run again (and alongside other runs).
const schemaName = `example_drizzle_${process.pid}`;
const shop = pgSchema(schemaName);
const orders = shop.table('orders', {
  number: integer('number').primaryKey(),
  fulfilled: boolean('fulfilled').notNull().default(false),
});
const db = drizzle({ client: pool });

const fulfilled: number[] = [];

// A target: a named singleton whose methods can be enqueued as tasks.
export const OrderClient = defineTarget('OrderClient', {
  async fulfill(args: { orderNumber: number }, ctx: TaskContext<DrizzleTransactionOf<typeof db>>) {
    if (args.orderNumber < 0) throw new PermanentError('order numbers are positive');
    // Writes made through ctx.transaction (a Drizzle tx) commit together with the task's success.
    await ctx.transaction(async (tx) => {
      await tx.update(orders).set({ fulfilled: true }).where(eq(orders.number, args.orderNumber));
    });
    fulfilled.push(args.orderNumber);
  },
});

const tasks = new AsyncTask({
  driver: drizzleDriver(db),
  targets: [OrderClient],
  table: `${schemaName}.async_task_attempts`,
});

async function placeOrder(orderNumber: number, options: { rollBack: boolean }): Promise<void> {
  try {
    await db.transaction(async (tx) => {
      await tx.insert(orders).values({ number: orderNumber });
      await tasks.enqueue(
        tx,
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

try {
  await db.execute(sql`CREATE SCHEMA ${sql.identifier(schemaName)}`);
  await db.execute(
    sql`CREATE TABLE ${orders} (number int PRIMARY KEY, fulfilled boolean NOT NULL DEFAULT false)`,
  );
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

  const rows = await db.select().from(orders).orderBy(asc(orders.number));
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
  await db.execute(sql`DROP SCHEMA IF EXISTS ${sql.identifier(schemaName)} CASCADE`);
  await pool.end();
}
