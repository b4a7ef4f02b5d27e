// async-task with Kysely (over node-postgres): a rolled-back order leaves no task; a committed
// one is performed.
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm start
import { Kysely, PostgresDialect, sql, type Transaction } from 'kysely';
import pg from 'pg';
import { AsyncTask, defineTarget, PermanentError, type TaskContext } from 'async-task';
import { kyselyDriver } from 'async-task/kysely';

const schema = `example_kysely_${process.pid}`;

interface DB {
  orders: { number: number; fulfilled: boolean };
}

const db = new Kysely<DB>({
  dialect: new PostgresDialect({
    pool: new pg.Pool({
      connectionString: process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test',
    }),
  }),
}).withSchema(schema);

const fulfilled: number[] = [];

// A target: a named singleton whose methods can be enqueued as tasks.
export const OrderClient = defineTarget('OrderClient', {
  async fulfill(args: { orderNumber: number }, ctx: TaskContext<Transaction<DB>>) {
    if (args.orderNumber < 0) throw new PermanentError('order numbers are positive');
    // Writes made through ctx.transaction commit together with the task's success.
    await ctx.transaction(async (trx) => {
      // The handler's trx is Kysely's own Transaction<DB> (with db's withSchema plugin).
      await trx
        .updateTable('orders')
        .set({ fulfilled: true })
        .where('number', '=', args.orderNumber)
        .execute();
    });
    fulfilled.push(args.orderNumber);
  },
});

const tasks = new AsyncTask({
  driver: kyselyDriver(db),
  targets: [OrderClient],
  table: `${schema}.async_task_attempts`,
});

async function placeOrder(orderNumber: number, options: { rollBack: boolean }): Promise<void> {
  try {
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('orders').values({ number: orderNumber, fulfilled: false }).execute();
      await tasks.enqueue(
        trx,
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
  await sql`CREATE SCHEMA ${sql.id(schema)}`.execute(db);
  await db.schema
    .createTable('orders')
    .addColumn('number', 'integer', (column) => column.primaryKey())
    .addColumn('fulfilled', 'boolean', (column) => column.notNull().defaultTo(false))
    .execute();
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

  const rows = await db.selectFrom('orders').selectAll().orderBy('number').execute();
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
  await sql`DROP SCHEMA IF EXISTS ${sql.id(schema)} CASCADE`.execute(db);
  await db.destroy();
}
