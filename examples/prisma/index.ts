// async-task with Prisma on PostgreSQL (@prisma/adapter-pg): a rolled-back order leaves no task;
// a committed one is performed.
//   bash setup.sh   (generates the Prisma client into ./generated/prisma)
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm start
import { PrismaPg } from '@prisma/adapter-pg';
import { AsyncTask, defineTarget, PermanentError, type TaskContext } from 'async-task';
import { prismaDriver, type PrismaTransactionOf } from 'async-task/prisma';
import { PrismaClient } from './generated/prisma/client.js';

const connectionString = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
// A PostgreSQL schema of its own, so the example can run again and again (and beside others).
const schema = `example_prisma_${process.pid}`;
const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString }, { schema }) });

/** The `tx` of prisma.$transaction(async (tx) => …): what enqueue and ctx.transaction use. */
type Tx = PrismaTransactionOf<PrismaClient>;

const fulfilled: number[] = [];

// A target: a named singleton whose methods can be enqueued as tasks.
export const OrderClient = defineTarget('OrderClient', {
  async fulfill(args: { orderNumber: number }, ctx: TaskContext<Tx>) {
    if (args.orderNumber < 0) throw new PermanentError('order numbers are positive');
    // Writes made through ctx.transaction commit together with the task's success.
    await ctx.transaction(async (tx) => {
      await tx.order.update({ where: { number: args.orderNumber }, data: { fulfilled: true } });
    });
    fulfilled.push(args.orderNumber);
  },
});

const tasks = new AsyncTask({
  driver: prismaDriver(prisma),
  targets: [OrderClient],
  table: `${schema}.async_task_attempts`,
});

async function placeOrder(orderNumber: number, options: { rollBack: boolean }): Promise<void> {
  try {
    await prisma.$transaction(async (tx) => {
      await tx.order.create({ data: { number: orderNumber } });
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
  await prisma.$executeRawUnsafe(`CREATE SCHEMA ${schema}`);
  await prisma.$executeRawUnsafe(
    `CREATE TABLE ${schema}.orders (number int PRIMARY KEY, fulfilled boolean NOT NULL DEFAULT false)`,
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

  const rows = await prisma.order.findMany({ orderBy: { number: 'asc' } });
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
  await prisma.$executeRawUnsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await prisma.$disconnect();
}
