// A worker's heartbeat and its own outcome writes never wait on each other's rows. A heartbeat
// extends the leases it listed when it began; runs that end while it is under way have their
// outcomes written meanwhile, and each statement took row locks in its own order: PostgreSQL
// broke the cycle after deadlock_timeout with "deadlock detected" (an `error` event, a second lost).
import type pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AsyncTask, defineTarget, type Worker } from '../../src/index.js';
import { postgresHarness } from '../harness/postgres.js';
import { waitFor } from '../harness/wait-for.js';

type PostgresHarness = Awaited<ReturnType<typeof postgresHarness>>;

describe('postgres: heartbeats beside outcome writes', () => {
  let harness: PostgresHarness;
  let worker: Worker | undefined;

  beforeEach(async () => {
    harness = await postgresHarness();
  });

  afterEach(async () => {
    await worker?.stop({ timeoutMs: 1000 });
    worker = undefined;
    await harness.close();
  });

  it('a worker that heartbeats every 10 ms while it drains 10,000 short tasks hits no deadlock', async () => {
    const count = 10_000;
    let done = 0;
    const Short = defineTarget('Short', {
      async work(_args: { i: number }) {
        // Long enough that many runs are under way at each heartbeat; short enough to end often.
        await new Promise((resolve) => setTimeout(resolve, 1));
        done += 1;
      },
    });
    const tasks = new AsyncTask({
      driver: harness.driver,
      table: harness.table,
      targets: [Short],
    }) as unknown as AsyncTask<pg.PoolClient>;
    await tasks.migrate();
    const client = await harness.pool.connect();
    try {
      await client.query('BEGIN');
      await tasks.enqueueMany(
        client,
        Array.from({ length: count }, (_, i) => ({ method: Short.work, args: { i } })),
      );
      await client.query('COMMIT');
    } finally {
      client.release();
    }

    const errors: string[] = [];
    worker = tasks.worker({ concurrency: 50, heartbeatMs: 10 });
    worker.on('error', ({ error, during }) => {
      errors.push(`${during}: ${error instanceof Error ? error.message : String(error)}`);
    });
    await worker.start();
    await waitFor('every task to run', () => done >= count, 120_000);
    await worker.stop();

    expect(errors).toEqual([]);
    const { rows } = await harness.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${harness.table} WHERE status = 'succeeded'`,
    );
    expect(rows[0]?.n).toBe(count);
  }, 150_000);
});
