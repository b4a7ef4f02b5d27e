// What a claim of a queue with flow control reads on PostgreSQL, counted by the server in the
// claim's own transaction (pg_stat_get_xact_tuples_returned per index): it must not grow with the
// due rows of other queues, nor with its own queue's backlog. Both once did: an empty limited
// queue's claim read every due row of a 20,000-task unlimited backlog (the due index holds every
// queue's rows), and a limited queue's claim ranked its whole backlog within keys.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AsyncTask, defineTarget } from '../../src/index.js';
import { postgresHarness } from '../harness/postgres.js';

const Noop = defineTarget('FlowCost', { run(_args: { i: number }) {} });

describe('postgres: the reads of a limited claim', () => {
  let harness: Awaited<ReturnType<typeof postgresHarness>>;

  beforeEach(async () => {
    harness = await postgresHarness();
  });

  afterEach(async () => {
    await harness.close();
  });

  /** Index tuples the limited claim of `queue` (room 10) returned, and the rows it claimed. */
  async function claimReads(queue: string): Promise<{ read: number; claimed: number }> {
    const client = await harness.pool.connect();
    const table = `"${harness.schema}".async_task_attempts`;
    try {
      await client.query('BEGIN');
      const { rowCount } = await client.query(
        `SELECT * FROM "${harness.schema}".async_task_attempts_claim_limited(
           'w1', 10, 60000, NULL, $1, 100, 1, false, NULL, NULL, NULL, true)`,
        [queue],
      );
      const { rows } = await client.query<{ read: string }>(
        `SELECT sum(pg_stat_get_xact_tuples_returned(indexrelid))::bigint AS read
         FROM pg_index WHERE indrelid = $1::regclass`,
        [table],
      );
      return { read: Number(rows[0]!.read), claimed: rowCount ?? 0 };
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  }

  it('reads neither the other queues’ backlog nor its own beyond its first look', async () => {
    const tasks = new AsyncTask({
      driver: harness.driver,
      table: harness.table,
      targets: [Noop],
      queues: { idle: { concurrency: 100 }, busy: { concurrency: 100 } },
    });
    await tasks.migrate();
    const client = await harness.pool.connect();
    try {
      await client.query('BEGIN');
      for (const queue of ['open', 'busy']) {
        await tasks.enqueueMany(
          client,
          Array.from({ length: 20_000 }, (_, i) => ({
            method: Noop.run,
            args: { i },
            options: { queue, ...(queue === 'busy' ? { concurrencyKey: `k${i % 50}` } : {}) },
          })),
        );
      }
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    await harness.pool.query(`ANALYZE "${harness.schema}".async_task_attempts`);

    const idle = await claimReads('idle');
    expect(idle.claimed).toBe(0);
    expect(idle.read).toBeLessThan(100);
    const busy = await claimReads('busy');
    expect(busy.claimed).toBe(10);
    // Its first look: room * 4 + 256 due rows, plus the few running rows it counts.
    expect(busy.read).toBeLessThan(10 * 4 + 256 + 100);
  });
});
