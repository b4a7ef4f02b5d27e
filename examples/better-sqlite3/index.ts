// async-task with better-sqlite3 (no server needed): the enqueue is written inside the synchronous
// db.transaction, so a rolled-back order leaves no task; a committed one is performed by a worker.
//   npm start
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { AsyncTask, defineTarget, PermanentError, type TaskContext } from 'async-task';
import { betterSqlite3Driver } from 'async-task/better-sqlite3';

const folder = mkdtempSync(join(tmpdir(), 'async-task-example-sqlite-'));
const db = new Database(join(folder, 'shop.db'));
db.pragma('journal_mode = WAL');
db.exec('CREATE TABLE orders (number INTEGER PRIMARY KEY, fulfilled INTEGER NOT NULL DEFAULT 0)');

const fulfilled: number[] = [];

// A target: a named singleton whose methods can be enqueued as tasks.
export const OrderClient = defineTarget('OrderClient', {
  async fulfill(args: { orderNumber: number }, ctx: TaskContext<Database.Database>) {
    if (args.orderNumber < 0) throw new PermanentError('order numbers are positive');
    // Writes made through ctx.transaction commit together with the task's success; the handler
    // gets the worker's own connection, inside its transaction.
    await ctx.transaction(async (tx) => {
      tx.prepare('UPDATE orders SET fulfilled = 1 WHERE number = ?').run(args.orderNumber);
    });
    fulfilled.push(args.orderNumber);
  },
});

const driver = betterSqlite3Driver(db);
const tasks = new AsyncTask({ driver, targets: [OrderClient] });
const insertOrder = db.prepare('INSERT INTO orders (number) VALUES (?)');

function placeOrder(orderNumber: number, options: { rollBack: boolean }): void {
  try {
    db.transaction(() => {
      insertOrder.run(orderNumber);
      // Written before it returns: the row is part of this transaction.
      void tasks.enqueue(db, OrderClient.fulfill, { orderNumber });
      if (options.rollBack) throw new Error(`order ${orderNumber} rolled back on purpose`);
    })();
  } catch (error) {
    console.log(`  ${(error as Error).message}`);
  }
}

try {
  await tasks.migrate();
  const worker = tasks.worker({ concurrency: 2, pollIntervalMs: 200 });
  const succeeded = new Promise<string>((resolve) =>
    worker.on('succeeded', ({ attempt }) => resolve(attempt.id)),
  );
  await worker.start();

  console.log('placing order 7355608 and rolling it back, then order 7355609 and committing it');
  placeOrder(7355608, { rollBack: true });
  placeOrder(7355609, { rollBack: false });
  const performedId = await succeeded;
  await worker.stop();
  console.log(`worker performed attempt ${performedId}`);

  const rows = db.prepare('SELECT number, fulfilled FROM orders ORDER BY number').all() as {
    number: number;
    fulfilled: number;
  }[];
  console.log(`orders: ${JSON.stringify(rows)}`);
  const attempts = await tasks.list();
  console.log(
    `attempts: ${attempts.map((a) => `${a.id} ${a.status} (${a.numAttempts} run)`).join(', ')}`,
  );

  const ok =
    fulfilled.length === 1 &&
    fulfilled[0] === 7355609 &&
    rows.length === 1 &&
    rows[0]?.fulfilled === 1 &&
    attempts.length === 1 &&
    attempts[0]?.status === 'succeeded';
  console.log(
    ok ? 'OK: no task for the rolled-back order; the committed one was performed once' : 'FAILED',
  );
  process.exitCode = ok ? 0 : 1;
} finally {
  await driver.close();
  db.close();
  rmSync(folder, { recursive: true, force: true });
}
