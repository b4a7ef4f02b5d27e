// A limited claim on PostgreSQL must read what its plan was written for whatever the table's
// statistics say. A queue table's statistics are seldom those of its backlog: analysed while
// nearly every row was finished, or never (a new table, autovacuum off or not yet round), they
// say a queue has a handful of pending rows, and then each of the three indexes of pending rows
// looks as cheap as another. The claim then read its queue's whole backlog, once per claim (a
// first look from the key-leading index, sorted) or once per key (the look by key walking the
// keys through the queue-leading index): a keyed drain of 20,000 over 100 keys ran at 330
// tasks/s. Counted by the server in the claim's own transaction, per index.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AsyncTask, defineTarget, type EnqueueOptions } from '../../src/index.js';
import { enqueueInBatches } from '../harness/enqueue-batches.js';
import { postgresHarness } from '../harness/postgres.js';

const Noop = defineTarget('StaleStats', { run(_args: { i: number }) {} });

function limitedTasks(harness: Awaited<ReturnType<typeof postgresHarness>>) {
  return new AsyncTask({
    driver: harness.driver,
    table: harness.table,
    targets: [Noop],
    queues: { keyed: { keyConcurrency: 1 }, limited: { concurrency: 100 } },
  });
}

describe('postgres: a limited claim under stale statistics', () => {
  let harness: Awaited<ReturnType<typeof postgresHarness>>;
  let tasks: ReturnType<typeof limitedTasks>;
  let table: string;

  beforeEach(async () => {
    harness = await postgresHarness();
    table = `"${harness.schema}".async_task_attempts`;
    tasks = limitedTasks(harness);
    await tasks.migrate();
  });

  afterEach(async () => {
    await harness.close();
  });

  const enqueue = (count: number, options: (i: number) => EnqueueOptions<never>) =>
    enqueueInBatches(harness, tasks, Noop.run, count, options);

  /**
   * Statistics of a table whose every row was finished: no pending row to speak of. The rows are
   * written finished: finished by an UPDATE, their pending versions would leave entries in the
   * indexes of pending rows that VACUUM cannot remove while another test's transaction is open
   * (the suite runs in parallel), and the claim would read those before the live ones.
   */
  async function analyseFinished(count: number) {
    await harness.pool.query(
      `INSERT INTO ${table} (target, method_name, method_args, queue, status, num_attempts,
         completed_at, scheduled_at, created_at, updated_at)
       SELECT 'StaleStats', 'run', json_build_object('i', g)::text,
         CASE WHEN g % 2 = 0 THEN 'keyed' ELSE 'other' END, 'succeeded', 1,
         now(), now(), now(), now()
       FROM generate_series(1, $1) AS g`,
      [count],
    );
    await harness.pool.query(`VACUUM ANALYZE ${table}`);
  }

  /** Index entries each index gave one limited claim of `queue`, and the rows it claimed. */
  async function claimReads(
    queue: string,
    room: number,
    concurrency: number | null,
  ): Promise<{ read: Record<string, number>; claimed: number }> {
    // Counted before and after, in the claim's transaction: a backend's counts of an earlier
    // transaction (this connection's enqueues) can stay unflushed into its next one.
    const client = await harness.pool.connect();
    const counts = async () =>
      (
        await client.query<{ index: string; read: string }>(
          `SELECT indexrelid::regclass::text AS index,
             pg_stat_get_xact_tuples_returned(indexrelid)::bigint AS read
           FROM pg_index WHERE indrelid = $1::regclass`,
          [table],
        )
      ).rows;
    try {
      await client.query('BEGIN');
      const before = new Map((await counts()).map((row) => [row.index, Number(row.read)]));
      const { rowCount } = await client.query(
        `SELECT * FROM "${harness.schema}".async_task_attempts_claim_limited(
           'w1', $1, 60000, NULL, $2, $3, 1, false, NULL, NULL, NULL, true)`,
        [room, queue, concurrency],
      );
      const after = await counts();
      await client.query('ROLLBACK');
      const read = Object.fromEntries(
        after.map((row) => [
          row.index.replace(/^.*\./, ''),
          Number(row.read) - (before.get(row.index) ?? 0),
        ]),
      );
      return { read, claimed: rowCount ?? 0 };
    } finally {
      client.release(true);
    }
  }

  const total = (read: Record<string, number>) => Object.values(read).reduce((a, b) => a + b, 0);

  it('never analysed: the look by key walks 100 keys, one entry each, not the backlog per key', async () => {
    // 200 attempts per key, in enqueue order: a first look of 100 * 4 + 256 rows sees 4 keys.
    await enqueue(20_000, (i) => ({ queue: 'keyed', concurrencyKey: `k${Math.floor(i / 200)}` }));

    const { read, claimed } = await claimReads('keyed', 100, null);
    expect(claimed).toBe(100);
    // The first look (656 rows), its recount, a descent per key and each free key's first row.
    // Through the queue-leading index the walk read about 1,000,000.
    expect(total(read), JSON.stringify(read)).toBeLessThan(3000);
  });

  it('analysed with nothing pending: a first look reads its prefix, not the backlog', async () => {
    await analyseFinished(20_000);
    await enqueue(20_000, () => ({ queue: 'limited' }));

    const limited = await claimReads('limited', 10, 100);
    expect(limited.claimed).toBe(10);
    // Its first look: 10 * 4 + 256 due rows (read from the key-leading index and sorted: 20,000).
    expect(total(limited.read), JSON.stringify(limited.read)).toBeLessThan(10 * 4 + 256 + 100);
    expect(limited.read['async_task_attempts_queue_key_due_idx'] ?? 0).toBe(0);
  });

  it('analysed with nothing pending: a keyed claim reads its prefix and its keys', async () => {
    await analyseFinished(20_000);
    await enqueue(20_000, (i) => ({ queue: 'keyed', concurrencyKey: `k${Math.floor(i / 200)}` }));

    const { read, claimed } = await claimReads('keyed', 100, null);
    expect(claimed).toBe(100);
    expect(total(read), JSON.stringify(read)).toBeLessThan(3000);
  });
});
