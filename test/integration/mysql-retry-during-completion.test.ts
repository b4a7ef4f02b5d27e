// MySQL completions mark the rows they write and read the marks back to learn what they wrote (no
// RETURNING); a run whose cancel was requested is written `expired` under a second mark, which is
// how the worker tells it was cancelled. An operator's retry() landing between the write and the
// read-back cleared the mark, and the worker reported the handler's outcome (`succeeded`) for a
// run recorded cancelled (seen 4 times in 105 s of a race probe). retry() keeps a completion's
// mark now, with its hold; the completion's unmark clears it a moment later.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineTarget } from '../../src/index.js';
import type { SqlConnection } from '../../src/seam/sql-connection.js';
import { claimParams } from '../harness/executor-harness.js';
import { mysqlHarness } from '../harness/mysql.js';
import { migratedTasks } from '../harness/new-tasks.js';

const Orders = defineTarget('Orders', { fulfil(_args: { n: number }) {} });

describe('mysql: retry() between a completion and its read-back', () => {
  let harness: Awaited<ReturnType<typeof mysqlHarness>>;
  beforeEach(async () => {
    harness = await mysqlHarness();
  });
  afterEach(async () => {
    await harness.close();
  });

  it('the worker still learns the run was cancelled, and the retried attempt runs again', async () => {
    const tasks = await migratedTasks(harness, { targets: [Orders] });
    const { runtime } = tasks;
    const attempt = await tasks.enqueue(harness.pool, Orders.fulfil, { n: 1 });
    const claimed = await runtime.driver.run((connection) =>
      runtime.executor(connection).attemptClaim(claimParams('w1', { limit: 1 })),
    );
    const held = claimed.records[0]!;
    expect(await tasks.cancel(attempt.id)).toMatchObject({ outcome: 'requested' });

    let retried = false;
    const retryingBeforeUnmark = (connection: SqlConnection): SqlConnection => ({
      query: async (statement, params) => {
        if (!retried && statement.name.includes('attemptUnmark')) {
          retried = true;
          await tasks.retry(attempt.id);
        }
        return connection.query(statement, params);
      },
      transaction: (fn, options) =>
        connection.transaction((tx) => fn(retryingBeforeUnmark(tx)), options),
    });
    const written = await runtime.driver.run((connection) =>
      runtime.executor(retryingBeforeUnmark(connection)).attemptCompleteMany('w1', [
        {
          id: held.id,
          numAttempts: held.numAttempts,
          status: 'succeeded',
          delayMs: 0,
          error: null,
        },
      ]),
    );
    expect(retried).toBe(true);
    expect([...written]).toEqual([attempt.id]);
    expect(written.cancelled).toEqual([attempt.id]);

    // Unmarked, pending, and claimable again.
    const [rows] = await harness.pool.query(
      `SELECT status, locked_by, locked_until FROM \`${harness.database}\`.async_task_attempts`,
    );
    expect(rows).toEqual([{ status: 'pending', locked_by: null, locked_until: null }]);
    const again = await runtime.driver.run((connection) =>
      runtime.executor(connection).attemptClaim(claimParams('w2', { limit: 1 })),
    );
    expect(again.records.map((record) => record.id)).toEqual([attempt.id]);
  });
});
