// async-task with mysql2 on MySQL/MariaDB: a rolled-back order leaves no task; a committed one is
// performed by a worker.
//   DATABASE_URL=mysql://root@127.0.0.1:3306/test npm start
import mysql from 'mysql2/promise';
import { AsyncTask, defineTarget, PermanentError, type TaskContext } from 'async-task';
import { mysql2Driver } from 'async-task/mysql2';

const url = process.env['DATABASE_URL'] ?? 'mysql://root@127.0.0.1:3306/test';
const database = `example_mysql2_${process.pid}`;

const fulfilled: number[] = [];

// A target: a named singleton whose methods can be enqueued as tasks.
export const OrderClient = defineTarget('OrderClient', {
  async fulfill(args: { orderNumber: number }, ctx: TaskContext<mysql.PoolConnection>) {
    if (args.orderNumber < 0) throw new PermanentError('order numbers are positive');
    // Writes made through ctx.transaction commit together with the task's success.
    await ctx.transaction(async (conn) => {
      await conn.query('UPDATE orders SET fulfilled = true WHERE number = ?', [args.orderNumber]);
    });
    fulfilled.push(args.orderNumber);
  },
});

// The example's own database, so it can run again and beside the tests.
const admin = await mysql.createConnection(url);
await admin.query(`CREATE DATABASE ${database}`);
const pool = mysql.createPool({ uri: url, database, connectionLimit: 5 });
const tasks = new AsyncTask({ driver: mysql2Driver(pool), targets: [OrderClient] });

async function placeOrder(orderNumber: number, options: { rollBack: boolean }): Promise<void> {
  const conn = await pool.getConnection();
  try {
    await conn.beginTransaction();
    await conn.query('INSERT INTO orders (number) VALUES (?)', [orderNumber]);
    await tasks.enqueue(
      conn,
      OrderClient.fulfill,
      { orderNumber },
      { idempotenceToken: `fulfill-${orderNumber}` },
    );
    if (options.rollBack) throw new Error(`order ${orderNumber} rolled back on purpose`);
    await conn.commit();
  } catch (error) {
    await conn.rollback();
    console.log(`  ${(error as Error).message}`);
  } finally {
    conn.release();
  }
}

try {
  await pool.query(
    'CREATE TABLE orders (number int PRIMARY KEY, fulfilled boolean NOT NULL DEFAULT false)',
  );
  await tasks.migrate();

  // MySQL has no LISTEN: the worker polls, and an enqueue in this process wakes it.
  const worker = tasks.worker({ concurrency: 4, pollIntervalMs: 200 });
  const succeeded = new Promise<string>((resolve) =>
    worker.on('succeeded', ({ attempt }) => resolve(attempt.id)),
  );
  await worker.start();

  console.log('placing order 7355608 and rolling it back, then order 7355609 and committing it');
  await placeOrder(7355608, { rollBack: true });
  await placeOrder(7355609, { rollBack: false });
  const performedId = await succeeded;
  await worker.stop();
  console.log(`worker performed attempt ${performedId}`);

  const [rows] = await pool.query<mysql.RowDataPacket[]>(
    'SELECT number, fulfilled FROM orders ORDER BY number',
  );
  console.log(`orders: ${JSON.stringify(rows)}`);
  const attempts = await tasks.list();
  console.log(
    `attempts: ${attempts.map((a) => `${a.id} ${a.status} (${a.numAttempts} run)`).join(', ')}`,
  );

  const ok =
    fulfilled.length === 1 &&
    fulfilled[0] === 7355609 &&
    rows.length === 1 &&
    rows[0]?.['fulfilled'] === 1 &&
    attempts.length === 1 &&
    attempts[0]?.status === 'succeeded' &&
    attempts[0]?.id === performedId;
  console.log(
    ok ? 'OK: no task for the rolled-back order; the committed one was performed once' : 'FAILED',
  );
  process.exitCode = ok ? 0 : 1;
} finally {
  await pool.end();
  await admin.query(`DROP DATABASE IF EXISTS ${database}`);
  await admin.end();
}
