// A worker's statements must read what the table's size of the moment calls for, however small
// the table was when the worker's connection first ran them. PostgreSQL makes a prepared
// statement's generic plan after five runs and keeps it until the table is analysed or vacuumed:
// made on a new table, the completion's plan hashed the whole table (a sequential scan) to find
// its batch's rows, and kept doing so as the table grew (277 ms a completion in a steady stream's
// first 40 s; forever with autovacuum off). Each statement here runs ten times on a small table,
// then once after the table has grown by 100,000 rows that no statistics describe, on the same
// connection; the server counts the rows it read from the table in that transaction.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AsyncTask, defineTarget } from '../../src/index.js';
import type { Executor } from '../../src/seam/executor.js';
import type { SqlConnection } from '../../src/seam/sql-connection.js';
import { claimParams } from '../harness/executor-harness.js';
import { postgresHarness } from '../harness/postgres.js';

const Noop = defineTarget('Growth', { run(_args: { i: number }) {} });

/** What a worker runs again and again, on leases it does not hold (so nothing is written). */
const operations: [string, (executor: Executor) => Promise<unknown>][] = [
  [
    'a completion',
    (e) =>
      e.attemptCompleteMany('w1', [
        { id: '1', numAttempts: 1, status: 'succeeded', delayMs: 0, error: null },
      ]),
  ],
  [
    'a failed run',
    (e) =>
      e.attemptCompleteMany('w1', [
        { id: '1', numAttempts: 1, status: 'failed', delayMs: 0, error: 'Error: no' },
      ]),
  ],
  ['a lease extension', (e) => e.attemptExtendLeases('w1', [{ id: '1', numAttempts: 1 }], 1000)],
  ['a release', (e) => e.attemptReleaseMany('w1', [{ id: '1', numAttempts: 1 }])],
  [
    'a look for cancel requests',
    (e) => e.attemptListCancelRequested([{ id: '1', numAttempts: 1 }]),
  ],
  ['a rescue of expired leases', (e) => e.attemptRescueExpired(100)],
  [
    "an enqueue's read of the attempts holding its tokens",
    (e) =>
      e.attemptInsertMany(
        ['t1', 't2'].map((token) => ({
          target: 'Growth',
          methodName: 'run',
          methodArgs: '{"i":0}',
          encryptor: null,
          maxAttempts: 25,
          queue: 'default',
          priority: 0,
          idempotenceToken: token,
          scheduledAt: null,
        })),
      ),
  ],
  [
    "a claim's read of trace contexts",
    (e) => e.attemptClaim(claimParams('w1', { limit: 2, traceContext: true })),
  ],
];

describe('postgres: plans made while the table was small', () => {
  let harness: Awaited<ReturnType<typeof postgresHarness>>;
  let tasks: AsyncTask<unknown, unknown>;

  beforeEach(async () => {
    harness = await postgresHarness();
    tasks = new AsyncTask({ driver: harness.driver, table: harness.table, targets: [Noop] });
    await tasks.migrate();
    // Due attempts for the claims to take, two a run.
    await harness.transaction((tx) =>
      tasks.enqueueMany(
        tx,
        Array.from({ length: 30 }, (_, i) => ({ method: Noop.run, args: { i } })),
      ),
    );
  });

  afterEach(async () => {
    await harness.close();
  });

  /** Rows the server read from the table (scanned or fetched through an index) in `fn`. */
  async function rowsRead(connection: SqlConnection, fn: () => Promise<unknown>) {
    const read = async () => {
      const { rows } = await connection.query(
        {
          name: '',
          text: `SELECT pg_stat_get_xact_tuples_returned('${harness.table}'::regclass)
            + pg_stat_get_xact_tuples_fetched('${harness.table}'::regclass) AS read`,
          returnsRows: true,
        },
        [],
      );
      return Number(rows[0]!['read']);
    };
    const before = await read();
    await fn();
    return (await read()) - before;
  }

  for (const [label, operation] of operations) {
    it(`${label} reads a handful of rows once the table has grown`, async () => {
      const read = await harness.driver.run(async (connection) => {
        const executor = tasks.runtime.executor(connection);
        for (let i = 0; i < 10; i += 1) await operation(executor);
        await harness.pool.query(
          `INSERT INTO ${harness.table} (target, method_name, method_args, status, num_attempts,
             completed_at, scheduled_at, created_at, updated_at)
           SELECT 'Growth', 'run', '{}', 'succeeded', 1, now(), now(), now(), now()
           FROM generate_series(1, 100000)`,
        );
        return connection.transaction((tx) =>
          rowsRead(tx, () => operation(tasks.runtime.executor(tx))),
        );
      });
      expect(read).toBeLessThan(1000);
    });
  }
});
