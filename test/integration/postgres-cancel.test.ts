// What only PostgreSQL does for cancellation: the cancel statement itself notifies the workers
// (payload `cancel <id>` on the channel they LISTEN on for due work), and a listening worker
// aborts the handler on that notification alone, without waiting for its 500 ms look.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseTableName } from '../../src/core/table-name.js';
import { postgresDialect } from '../../src/dialects/postgres/index.js';
import { pgDriver } from '../../src/drivers/pg.js';
import { AsyncTask, defineTarget, type TaskContext, type Worker } from '../../src/index.js';
import { postgresHarness, postgresUrl } from '../harness/postgres.js';
import { waitFor } from '../harness/wait-for.js';
import { within } from '../harness/worker-process.js';

type PostgresHarness = Awaited<ReturnType<typeof postgresHarness>>;

describe('postgres/pg: cancel by NOTIFY', () => {
  let harness: PostgresHarness;
  let worker: Worker | undefined;
  let listener: pg.Client | undefined;
  beforeAll(async () => {
    harness = await postgresHarness();
  });
  afterEach(async () => {
    await worker?.stop({ timeoutMs: 1000 });
    worker = undefined;
    await listener?.end();
    listener = undefined;
  });
  afterAll(async () => {
    await harness.close();
  });

  it('cancel() of a running attempt notifies `cancel <id>`; of a pending one, nothing', async () => {
    const target = defineTarget('Quiet', { run(_args: { n: number }) {} });
    const tasks = new AsyncTask({
      driver: pgDriver(harness.pool),
      table: harness.table,
      targets: [target],
    });
    await tasks.migrate();
    const channel = postgresDialect.notifyChannel(parseTableName(harness.table))!;
    listener = new pg.Client({ connectionString: postgresUrl });
    await listener.connect();
    const payloads: string[] = [];
    listener.on('notification', (message) => payloads.push(message.payload ?? ''));
    await listener.query(`LISTEN "${channel}"`);
    const [pending, running] = await tasks.enqueueMany(harness.pool, [
      {
        method: target.run,
        args: { n: 1 },
        options: { scheduledAt: new Date(Date.now() + 60_000) },
      },
      {
        method: target.run,
        args: { n: 2 },
        options: { scheduledAt: new Date(Date.now() + 60_000) },
      },
    ]);
    // Running, as a worker's claim leaves it (no worker here to finish it).
    await harness.pool.query(
      `UPDATE ${harness.table} SET status = 'running', num_attempts = 1, locked_by = 'w',
         locked_until = now() + interval '1 minute' WHERE id = $1`,
      [running!.id],
    );

    expect((await tasks.cancel(pending!.id)).outcome).toBe('cancelled');
    expect((await tasks.cancel(running!.id)).outcome).toBe('requested');
    const marker = `marker-${randomBytes(4).toString('hex')}`;
    await harness.pool.query('SELECT pg_notify($1, $2)', [channel, marker]);
    await waitFor('the marker notification', () => payloads.includes(marker));
    expect(payloads).toEqual([`cancel ${running!.id}`, marker]);
  });

  it('a listening worker aborts the handler on the notification alone', async () => {
    let signal: AbortSignal | undefined;
    const target = defineTarget('Waits', {
      async run(_args: { n: number }, ctx: TaskContext) {
        signal = ctx.signal;
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
      },
    });
    const tasks = new AsyncTask({
      driver: pgDriver(harness.pool),
      table: harness.table,
      targets: [target],
    });
    await tasks.migrate();
    worker = tasks.worker({ pollIntervalMs: 50 });
    await worker.start();
    const { id } = await tasks.enqueue(harness.pool, target.run, { n: 1 });
    await waitFor('the run to start', () => signal !== undefined);

    // The notification without the row's mark: only the LISTEN path can abort it, and the 500 ms
    // look (which reads the mark) never would.
    const channel = postgresDialect.notifyChannel(parseTableName(harness.table))!;
    // Listened to before the NOTIFY: the worker can abort before this process sees the query end.
    const aborted = new Promise((resolve) =>
      signal!.addEventListener('abort', resolve, { once: true }),
    );
    await harness.pool.query('SELECT pg_notify($1, $2)', [channel, `cancel ${id}`]);
    await within(aborted, 2000, 'the signal to abort');
    expect(signal!.reason).toMatchObject({ code: 'CANCELLED', attemptId: id });
  });
});
