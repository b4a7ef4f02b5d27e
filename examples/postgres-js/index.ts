// async-task with postgres.js: a rolled-back order leaves no task; a committed one is performed.
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm start
import postgres from 'postgres';
import { AsyncTask, defineTarget, PermanentError, type TaskContext } from 'async-task';
import { postgresJsDriver } from 'async-task/postgres';

const sql = postgres(process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test', {
  onnotice: () => undefined,
});
const schema = `example_postgres_js_${process.pid}`;

const fulfilled: number[] = [];

// A target: a named singleton whose methods can be enqueued as tasks.
export const OrderClient = defineTarget('OrderClient', {
  async fulfill(args: { orderNumber: number }, ctx: TaskContext<postgres.TransactionSql>) {
    if (args.orderNumber < 0) throw new PermanentError('order numbers are positive');
    // Writes made through ctx.transaction commit together with the task's success.
    await ctx.transaction(async (tx) => {
      await tx`UPDATE ${tx(schema)}.orders SET fulfilled = true WHERE number = ${args.orderNumber}`;
    });
    fulfilled.push(args.orderNumber);
  },
});

const tasks = new AsyncTask({
  driver: postgresJsDriver(sql),
  targets: [OrderClient],
  table: `${schema}.async_task_attempts`,
});

async function placeOrder(orderNumber: number, options: { rollBack: boolean }): Promise<void> {
  try {
    await sql.begin(async (tx) => {
      await tx`INSERT INTO ${tx(schema)}.orders (number) VALUES (${orderNumber})`;
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
  await sql`CREATE SCHEMA ${sql(schema)}`;
  await sql`CREATE TABLE ${sql(schema)}.orders (number int PRIMARY KEY, fulfilled boolean NOT NULL DEFAULT false)`;
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

  const rows = await sql<{ number: number; fulfilled: boolean }[]>`
    SELECT number, fulfilled FROM ${sql(schema)}.orders ORDER BY number`;
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
  await sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`;
  await sql.end();
}
