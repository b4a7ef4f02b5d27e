// `tasks.prune` (and the CLI's `prune`) started each batch over from the table's first row: on
// PostgreSQL every batch walked again the rows it keeps (pending, recent) and the dead index
// entries of the rows it had deleted, and on MySQL every batch walked the status-led index through
// the finished attempts too recent to go. A prune of 1,500,000 rows slowed from 147,000 to 46,000
// a second as it went; MariaDB deleted 1,100 a second with 14 days of failures kept. Each batch now
// goes on from where the last one stopped, so a prune reads the table about once. Counted on one
// connection: PostgreSQL's table statistics, MySQL's session handler counter of index steps.
import type { RowDataPacket } from 'mysql2';
import { afterEach, describe, expect, it } from 'vitest';
import { defineTarget } from '../../src/index.js';
import { mysqlHarness } from '../harness/mysql.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { postgresHarness } from '../harness/postgres.js';

const Orders = defineTarget('Orders', { fulfil(_args: { n: number }) {} });
// In id order: failures kept (completed now), a backlog, then the old successes to prune.
const kept = 2_000;
const backlog = 2_000;
const old = 4_000;
const rows = kept + backlog + old;
const batchSize = 250;
const day = 86_400_000;

describe('prune in one pass', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  it(`PostgreSQL: a prune of ${old.toLocaleString('en')} in batches of ${batchSize} reads the ${rows.toLocaleString('en')} rows about once`, async () => {
    // One connection: the prune's backend is the one whose statistics are flushed and read.
    const harness = await postgresHarness({ max: 1 });
    closers.push(() => harness.close());
    const tasks = await migratedTasks(harness, { targets: [Orders] });
    const table = `"${harness.schema}".async_task_attempts`;
    await harness.pool.query(
      `INSERT INTO ${table} (target, method_name, method_args, status, num_attempts, completed_at)
       SELECT 'Orders', 'fulfil', '{"n":1}', s.status, s.tries, s.completed_at
       FROM generate_series(1, $1::int) AS n,
         LATERAL (SELECT
           CASE WHEN n <= $2 THEN 'failed' WHEN n <= $3 THEN 'pending' ELSE 'succeeded' END AS status,
           CASE WHEN n <= $3 AND n > $2 THEN 0 ELSE 1 END AS tries,
           CASE WHEN n <= $2 THEN now() WHEN n <= $3 THEN NULL
             ELSE now() - interval '2 days' END AS completed_at) AS s
       ORDER BY n`,
      [rows, kept, kept + backlog],
    );
    await harness.pool.query(`ANALYZE ${table}`);
    const read = async (): Promise<number> => {
      await harness.pool.query('SELECT pg_stat_force_next_flush()');
      const { rows: stats } = await harness.pool.query<{ n: number }>(
        `SELECT (coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0))::float8 AS n
         FROM pg_stat_user_tables WHERE relid = to_regclass($1)`,
        [table],
      );
      return stats[0]!.n;
    };

    const before = await read();
    const progress: number[] = [];
    const deleted = await tasks.prune({
      olderThan: new Date(Date.now() - day),
      batchSize,
      onProgress: (count) => progress.push(count),
    });
    const reads = (await read()) - before;

    expect(deleted).toBe(old);
    expect(progress.at(-1)).toBe(old);
    expect(progress.length).toBe(old / batchSize + 1);
    // Starting over, each of the 16 batches read the 4,000 rows kept first: 64,000 and more.
    expect(reads).toBeGreaterThanOrEqual(old);
    expect(reads).toBeLessThan(2 * rows);
    const { rows: left } = await harness.pool.query<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM ${table} GROUP BY status ORDER BY status`,
    );
    expect(left).toEqual([
      { status: 'failed', n: kept },
      { status: 'pending', n: backlog },
    ]);
  });

  it(`MySQL: a prune of ${old.toLocaleString('en')} in batches of ${batchSize} reads the ${rows.toLocaleString('en')} rows about once`, async () => {
    // One connection: the prune's session is the one whose counters are read.
    const harness = await mysqlHarness({ max: 1 });
    closers.push(() => harness.close());
    const tasks = await migratedTasks(harness, { targets: [Orders] });
    const table = `\`${harness.database}\`.async_task_attempts`;
    await harness.pool.query('SET SESSION max_recursive_iterations = 100000');
    await harness.pool.query(
      `INSERT INTO ${table}
         (target, method_name, method_args, status, pending_queue, num_attempts, completed_at)
       WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < ?)
       SELECT 'Orders', 'fulfil', '{"n":1}',
         CASE WHEN n <= ? THEN 'failed' WHEN n <= ? THEN 'pending' ELSE 'succeeded' END,
         CASE WHEN n <= ? OR n > ? THEN NULL ELSE 'default' END,
         CASE WHEN n <= ? OR n > ? THEN 1 ELSE 0 END,
         CASE WHEN n <= ? THEN UTC_TIMESTAMP(3) WHEN n <= ? THEN NULL
           ELSE UTC_TIMESTAMP(3) - INTERVAL 2 DAY END
       FROM s ORDER BY n`,
      [
        rows,
        kept,
        kept + backlog,
        kept,
        kept + backlog,
        kept,
        kept + backlog,
        kept,
        kept + backlog,
      ],
    );
    await harness.pool.query(`ANALYZE TABLE ${table}`);
    // Index entries stepped over along a walk (each delete's own primary-key lookups and its
    // JSON list's rows are counted by other handler counters).
    const read = async (): Promise<number> => {
      const [status] = await harness.pool.query<({ Value: string } & RowDataPacket)[]>(
        `SHOW SESSION STATUS LIKE 'Handler_read_next'`,
      );
      return Number(status[0]!.Value);
    };

    const before = await read();
    const deleted = await tasks.prune({ olderThan: new Date(Date.now() - day), batchSize });
    const reads = (await read()) - before;

    expect(deleted).toBe(old);
    // Starting over, each of the 16 batches walked the 2,000 failures kept: 32,000 and more.
    expect(reads).toBeGreaterThanOrEqual(old);
    expect(reads).toBeLessThan(2 * rows);
    const [left] = await harness.pool.query<({ status: string; n: number } & RowDataPacket)[]>(
      `SELECT status, COUNT(*) AS n FROM ${table} GROUP BY status ORDER BY status`,
    );
    expect(left.map(({ status, n }) => ({ status, n: Number(n) }))).toEqual([
      { status: 'failed', n: kept },
      { status: 'pending', n: backlog },
    ]);
  });
});
