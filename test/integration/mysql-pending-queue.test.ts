// MySQL/MariaDB's pending_queue (migration 0008) holds an attempt's queue while it is pending and
// NULL otherwise: the keyed claim's look by key walks an index over it, so a pending attempt
// without it would be seen by the first look only, and a finished one with it would be read by
// every look. Every statement that changes a status sets it; this walks an attempt through each
// of them (and the SQL enqueue procedure, which writes it by the column's default) and checks the
// column against the status after every step.
import type { RowDataPacket } from 'mysql2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claimParams, executorHarness } from '../harness/executor-harness.js';
import { mysqlHarness } from '../harness/mysql.js';

describe('mysql pending_queue follows the status', () => {
  let harness: Awaited<ReturnType<typeof mysqlHarness>>;

  beforeEach(async () => {
    harness = await mysqlHarness();
  });

  afterEach(async () => {
    await harness.close();
  });

  it('is the queue exactly while an attempt is pending, through every change of status', async () => {
    const x = await executorHarness(harness, 'mysql');
    const table = `\`${harness.database}\`.async_task_attempts`;
    const mismatches = async (step: string): Promise<void> => {
      const [rows] = await harness.pool.query<RowDataPacket[]>(
        `SELECT id, status, queue, pending_queue FROM ${table}
         WHERE NOT (pending_queue <=> IF(status = 'pending', queue, NULL))`,
      );
      expect(rows, step).toEqual([]);
    };
    const lease = (record: { id: string; numAttempts: number }) => ({
      id: record.id,
      numAttempts: record.numAttempts,
    });

    const rows = await x.insert(
      Array.from({ length: 8 }, (_, i) => ({
        queue: `q${i % 2}`,
        ...(i % 3 === 0 ? {} : { concurrencyKey: `k${i}` }),
      })),
    );
    await harness.pool.query(
      `CALL \`${harness.database}\`.async_task_attempts_enqueue('T', 'm', NULL, '{"queue": "sql"}', @id)`,
    );
    await mismatches('enqueued');
    const [sqlRow] = await harness.pool.query<RowDataPacket[]>(
      `SELECT pending_queue FROM ${table} WHERE queue = 'sql'`,
    );
    expect(sqlRow[0]?.['pending_queue']).toBe('sql');

    const claimed = (await x.run((e) => e.attemptClaim(claimParams('w', { limit: 7 })))).records;
    expect(claimed).toHaveLength(7);
    await mismatches('claimed');

    const [a, b, c, d, e, f, g] = claimed;
    await x.run((executor) =>
      executor.attemptCompleteMany('w', [
        { ...lease(a!), status: 'succeeded', delayMs: 0, error: null },
        { ...lease(b!), status: 'pending', delayMs: 0, error: 'retry' },
        { ...lease(c!), status: 'failed', delayMs: 0, error: 'boom' },
        { ...lease(d!), status: 'expired', delayMs: 0, error: 'late' },
      ]),
    );
    await mismatches('completed: succeeded, retried, failed, expired');

    await x.run((executor) => executor.attemptReleaseMany('w', [lease(e!)]));
    await mismatches('released');

    await x.run((executor) => executor.attemptCancel(f!.id));
    await mismatches('cancel requested while running');

    // g's lease runs out: the rescuer hands it back (pending) and f, cancelled, ends expired.
    await harness.pool.query(
      `UPDATE ${table} SET locked_until = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND WHERE id IN (?, ?)`,
      [f!.id, g!.id],
    );
    expect(await x.run((executor) => executor.attemptRescueExpired(10))).toHaveLength(2);
    await mismatches('rescued');
    expect((await x.get(g!.id)).status).toBe('pending');

    await x.run((executor) => executor.attemptSetPendingIfFinished(c!.id));
    await mismatches('failed, retried by hand');
    const untouched = rows.find((row) => !claimed.some((r) => r.id === row.id))!;
    await x.run((executor) => executor.attemptSetFinalIfPending(untouched.id, 'expired'));
    await x.run((executor) => executor.attemptCancel(b!.id));
    await mismatches('expired and cancelled while pending');

    const [counts] = await harness.pool.query<RowDataPacket[]>(
      `SELECT status, COUNT(*) AS n FROM ${table} GROUP BY status ORDER BY status`,
    );
    expect(counts.map((row) => `${String(row['status'])} ${Number(row['n'])}`)).toEqual([
      'expired 4',
      'pending 4',
      'succeeded 1',
    ]);
  });
});
