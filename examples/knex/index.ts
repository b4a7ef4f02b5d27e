// async-task with Knex on SQLite (better-sqlite3, no server needed): a rolled-back order leaves
// no task; a committed one is performed.
//   npm start
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knex, { type Knex } from 'knex';
import { AsyncTask, defineTarget, PermanentError, type TaskContext } from 'async-task';
import { knexDriver } from 'async-task/knex';

const folder = mkdtempSync(join(tmpdir(), 'async-task-example-knex-'));
const db = knex({
  client: 'better-sqlite3',
  connection: { filename: join(folder, 'shop.db') },
  useNullAsDefault: true,
});

const fulfilled: number[] = [];

// A target: a named singleton whose methods can be enqueued as tasks.
export const OrderClient = defineTarget('OrderClient', {
  async fulfill(args: { orderNumber: number }, ctx: TaskContext<Knex.Transaction>) {
    if (args.orderNumber < 0) throw new PermanentError('order numbers are positive');
    // Writes made through ctx.transaction commit together with the task's success.
    await ctx.transaction(async (trx) => {
      await trx('orders').where({ number: args.orderNumber }).update({ fulfilled: true });
    });
    fulfilled.push(args.orderNumber);
  },
});

const tasks = new AsyncTask({ driver: knexDriver(db), targets: [OrderClient] });

async function placeOrder(orderNumber: number, options: { rollBack: boolean }): Promise<void> {
  try {
    await db.transaction(async (trx) => {
      await trx('orders').insert({ number: orderNumber });
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
  await db.schema.createTable('orders', (table) => {
    table.integer('number').primary();
    table.boolean('fulfilled').notNullable().defaultTo(false);
  });
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

  const rows = (await db('orders').select('number', 'fulfilled').orderBy('number')).map(
    (row: { number: number; fulfilled: number }) => ({
      number: row.number,
      fulfilled: row.fulfilled === 1,
    }),
  );
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
  await db.destroy();
  rmSync(folder, { recursive: true, force: true });
}
