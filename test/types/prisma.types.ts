// Checked by `tsc --noEmit` only (never run): the Prisma driver takes a generated PrismaClient
// (or one extended with $extends), enqueue takes the `tx` of its interactive $transaction or the
// client, and nothing else (a pg Pool, another schema's client, a made-up object); a handler's
// ctx.transaction gets the client's own transaction type, models and all.
import type pg from 'pg';
import { prismaDriver, type PrismaTransactionOf } from '../../src/drivers/prisma/index.js';
import { AsyncTask, defineTarget, type TaskContext } from '../../src/index.js';
import type { PrismaClient as MysqlPrismaClient } from '../harness/prisma/generated/mysql/client.js';
import type { PrismaClient } from '../harness/prisma/generated/postgresql/client.js';

type Tx = PrismaTransactionOf<PrismaClient>;

const OrderClient = defineTarget('OrderClient', {
  async fulfill(args: { orderNumber: number }, ctx: TaskContext<Tx>) {
    await ctx.transaction(async (tx) => {
      await tx.order.update({ where: { number: args.orderNumber }, data: { number: 0 } });
    });
  },
});

/** Never called: the body only has to type-check. */
export async function prismaTypes(
  prisma: PrismaClient,
  other: MysqlPrismaClient,
  pool: pg.Pool,
): Promise<void> {
  const driver = prismaDriver(prisma);
  const tasks = new AsyncTask({ driver, targets: [OrderClient] });

  await prisma.$transaction(async (tx) => {
    await tx.order.create({ data: { number: 7 } });
    await tasks.enqueue(tx, OrderClient.fulfill, { orderNumber: 7 });
    // A nested $transaction (a savepoint) hands out the same transaction type.
    await tx.$transaction(async (nested) => {
      await tasks.enqueue(nested, OrderClient.fulfill, { orderNumber: 8 });
    });
  });
  await tasks.enqueue(prisma, OrderClient.fulfill, { orderNumber: 9 });

  // The handler's transaction is the client's own transaction client.
  await driver.transaction(async (_connection, tx) => {
    const typed: Tx = tx;
    await typed.order.findMany();
  });

  // An extended client works too, and its transactions are what its enqueue takes.
  const extended = prisma.$extends({});
  const onExtended = new AsyncTask({ driver: prismaDriver(extended), targets: [OrderClient] });
  await extended.$transaction(async (tx) => {
    await onExtended.enqueue(tx, OrderClient.fulfill, { orderNumber: 10 });
  });

  // Refused: what is not this client or one of its transactions.
  // @ts-expect-error a pg Pool is not what the Prisma driver's enqueue takes
  await tasks.enqueue(pool, OrderClient.fulfill, { orderNumber: 11 });
  // @ts-expect-error an object with raw-query methods is not a transaction of this client
  await tasks.enqueue({ $queryRawUnsafe: () => Promise.resolve([]) }, OrderClient.fulfill, {
    orderNumber: 12,
  });
  await other.$transaction(async (otherTx) => {
    // @ts-expect-error a transaction of another schema's client is not this client's
    await tasks.enqueue(otherTx, OrderClient.fulfill, { orderNumber: 13 });
  });
  // @ts-expect-error prismaDriver takes a PrismaClient, not a pg Pool
  prismaDriver(pool);
  // @ts-expect-error the dialect is one of the three
  prismaDriver(prisma, { dialect: 'sqlserver' });
}
