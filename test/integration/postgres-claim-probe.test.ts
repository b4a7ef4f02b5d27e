// The plain claim's priority probes read the first entry of the due index, whatever the
// statistics say. Written as min(priority), a probe could be answered by an aggregate over a whole
// scan of any partial index of pending rows, which statistics taken before the backlog arrived
// cost the same as the first entry: beside migration 14's key-leading index the planner took the
// scan, and every claim read the whole backlog (200 ms per claim at 1,000,000 pending, a drain
// beside 5,000,000 finished attempts at a sixth of its rate).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AsyncTask, defineTarget } from '../../src/index.js';
import { postgresHarness } from '../harness/postgres.js';

const Noop = defineTarget('ClaimProbe', { run(_args: { i: number }) {} });

describe('postgres: the claim probes the due index, not a scan of the backlog', () => {
  let harness: Awaited<ReturnType<typeof postgresHarness>>;

  beforeEach(async () => {
    harness = await postgresHarness();
  });

  afterEach(async () => {
    await harness.close();
  });

  it('with statistics taken before the backlog arrived', async () => {
    const tasks = new AsyncTask({ driver: harness.driver, table: harness.table, targets: [Noop] });
    await tasks.migrate();
    const table = `"${harness.schema}".async_task_attempts`;
    await harness.pool.query(`ALTER TABLE ${table} SET (autovacuum_enabled = false)`);
    // Finished attempts only, analysed: every index of pending rows looks empty.
    await harness.pool.query(
      `INSERT INTO ${table} (target, method_name, method_args, status, num_attempts, completed_at)
       SELECT 'ClaimProbe', 'run', '{}', 'succeeded', 1, now() FROM generate_series(1, 50000)`,
    );
    await harness.pool.query(`ANALYZE ${table}`);
    const client = await harness.pool.connect();
    try {
      await client.query('BEGIN');
      await tasks.enqueueMany(
        client,
        Array.from({ length: 20_000 }, (_, i) => ({ method: Noop.run, args: { i } })),
      );
      await client.query('COMMIT');
    } finally {
      // Closed: a backend's counts can stay unflushed into its next transaction.
      client.release(true);
    }

    const claimer = await harness.pool.connect();
    try {
      await claimer.query('BEGIN');
      const { rowCount } = await claimer.query(
        `SELECT * FROM "${harness.schema}".async_task_attempts_claim_due(
           'w1', 10, 60000, NULL, NULL, NULL, true)`,
      );
      const { rows } = await claimer.query<{ read: string }>(
        `SELECT sum(pg_stat_get_xact_tuples_returned(indexrelid))::bigint AS read
         FROM pg_index WHERE indrelid = $1::regclass`,
        [table],
      );
      expect(rowCount).toBe(10);
      // The probe's first entry, the claim's ten, their primary keys: a few dozen. A whole scan
      // of an index of pending rows read all 20,000.
      expect(Number(rows[0]!.read)).toBeLessThan(1_000);
    } finally {
      await claimer.query('ROLLBACK');
      claimer.release();
    }
  });
});
