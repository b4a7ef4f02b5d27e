// Checked by `tsc --noEmit` only (never run): enqueue and enqueueMany accept the argument types of
// the method they are given and the names of the configured encryptors, and nothing else.
import type pg from 'pg';
import {
  AsyncTask,
  aesGcmEncryptor,
  defineTarget,
  type EnqueueItem,
  type EnqueueOptions,
  type TaskContext,
} from '../../src/index.js';
import { pgDriver, type PgPoolClient } from '../../src/drivers/pg.js';

const OrderClient = defineTarget('OrderClient', {
  async fulfill(args: { customerToken: string; orderNumber: number }, ctx: TaskContext) {
    await Promise.resolve(ctx.attempt.id);
  },
  cancel(args: { orderNumber: number; reason?: string }) {
    return args.orderNumber;
  },
  ping(_args: undefined) {},
});

class Mailer {
  static send(args: { to: string }): void {
    void args;
  }
}
const MailTarget = defineTarget('Mailer', Mailer);

/** Never called: the body only has to type-check. */
export async function enqueueTypes(pool: pg.Pool, client: PgPoolClient): Promise<void> {
  const tasks = new AsyncTask({
    driver: pgDriver(pool),
    targets: [OrderClient, MailTarget],
    encryptors: { aes: aesGcmEncryptor({ keys: { k1: new Uint8Array(32) }, current: 'k1' }) },
  });
  const plain = new AsyncTask({ driver: pgDriver(pool), targets: [OrderClient] });

  // Accepted: the right arguments, the pool or a client, known encryptor names or null.
  await tasks.enqueue(client, OrderClient.fulfill, { customerToken: 'c_1', orderNumber: 7 });
  await tasks.enqueue(pool, OrderClient.cancel, { orderNumber: 7 });
  await tasks.enqueue(client, OrderClient.cancel, { orderNumber: 7, reason: 'late' });
  await tasks.enqueue(client, OrderClient.ping, undefined);
  await tasks.enqueue(client, MailTarget.send, { to: 'a@example.com' }, { encryptor: 'aes' });
  await tasks.enqueue(
    client,
    OrderClient.fulfill,
    { customerToken: 'c_1', orderNumber: 7 },
    {
      encryptor: null,
      idempotenceToken: 'order-7',
      scheduledAt: new Date(),
      maxAttempts: 3,
      queue: 'default',
      priority: 0,
    },
  );
  await plain.enqueue(client, OrderClient.cancel, { orderNumber: 1 }, { encryptor: null });
  const attempts = await tasks.enqueueMany(client, [
    { method: OrderClient.fulfill, args: { customerToken: 'c_2', orderNumber: 8 } },
    { method: OrderClient.cancel, args: { orderNumber: 8 }, options: { encryptor: 'aes' } },
    { method: MailTarget.send, args: { to: 'b@example.com' }, options: { queue: 'bulk' } },
  ]);
  const id: string | undefined = attempts[0]?.id;
  void id;

  // Refused: arguments that do not fit the method.
  // @ts-expect-error orderNumber must be a number
  await tasks.enqueue(client, OrderClient.fulfill, { customerToken: 'c_1', orderNumber: '7' });
  // @ts-expect-error customerToken is missing
  await tasks.enqueue(client, OrderClient.fulfill, { orderNumber: 7 });
  // @ts-expect-error an unknown property
  await tasks.enqueue(client, OrderClient.cancel, { orderNumber: 7, extra: true });
  // @ts-expect-error the arguments of another method
  await tasks.enqueue(client, MailTarget.send, { orderNumber: 7 });
  // @ts-expect-error no arguments where some are needed
  await tasks.enqueue(client, OrderClient.cancel, undefined);
  // @ts-expect-error a method needs its arguments
  await tasks.enqueue(client, OrderClient.cancel);

  // Refused: encryptor names that are not configured.
  // @ts-expect-error 'rsa' is not one of the encryptors
  await tasks.enqueue(client, OrderClient.cancel, { orderNumber: 7 }, { encryptor: 'rsa' });
  // @ts-expect-error this AsyncTask has no encryptors at all
  await plain.enqueue(client, OrderClient.cancel, { orderNumber: 7 }, { encryptor: 'aes' });
  // @ts-expect-error option types are checked too
  await tasks.enqueue(client, OrderClient.cancel, { orderNumber: 7 }, { priority: 'high' });

  // The exported option and item types, as written without type arguments, fit every AsyncTask
  // (before, their encryptor was any string, which an AsyncTask without encryptors refused).
  const options: EnqueueOptions = { queue: 'orders', priority: 1 };
  const items: EnqueueItem<{ orderNumber: number; reason?: string }>[] = [
    { method: OrderClient.cancel, args: { orderNumber: 1 }, options },
  ];
  await plain.enqueue(client, OrderClient.cancel, { orderNumber: 7 }, options);
  await plain.enqueueMany(client, items);
  await tasks.enqueue(client, OrderClient.cancel, { orderNumber: 7 }, options);
  await tasks.enqueueMany(client, items);
  const encrypted: EnqueueOptions<'aes'> = { encryptor: 'aes' };
  await tasks.enqueue(client, OrderClient.cancel, { orderNumber: 7 }, encrypted);
  // @ts-expect-error this AsyncTask has no encryptors
  await plain.enqueue(client, OrderClient.cancel, { orderNumber: 7 }, encrypted);

  // Refused: a transaction of the wrong kind.
  // @ts-expect-error not a pg client
  await tasks.enqueue('not a transaction', OrderClient.cancel, { orderNumber: 7 });

  // Refused in enqueueMany: each item's arguments against its own method, and encryptor names.
  await tasks.enqueueMany(client, [
    { method: OrderClient.cancel, args: { orderNumber: 1 } },
    // @ts-expect-error arguments of fulfill given to cancel
    { method: OrderClient.cancel, args: { customerToken: 'c_1', orderNumber: 1 } },
  ]);
  await tasks.enqueueMany(client, [
    // @ts-expect-error orderNumber must be a number
    { method: OrderClient.fulfill, args: { customerToken: 'c_1', orderNumber: 'one' } },
  ]);
  await tasks.enqueueMany(client, [
    // @ts-expect-error 'rsa' is not one of the encryptors
    { method: OrderClient.cancel, args: { orderNumber: 1 }, options: { encryptor: 'rsa' } },
  ]);
}
