// retry/expire/fail write only from their allowed statuses, then read the attempt to say why a
// refused write was refused. When a worker moved the attempt into an allowed status between the
// two (a cancelled run's completion turning it `expired`), the error contradicted itself:
// "cannot retry attempt 69: it is expired, and only a failed or expired attempt can be retried".
// The write is tried again then, and succeeds.
import { afterEach, describe, expect, it } from 'vitest';
import { defineTarget } from '../../src/index.js';
import type { Driver } from '../../src/seam/driver.js';
import type { SqlConnection } from '../../src/seam/sql-connection.js';
import { claimParams } from '../harness/executor-harness.js';
import type { Harness } from '../harness/fixture.js';
import { mysqlHarness } from '../harness/mysql.js';
import { newTasks } from '../harness/new-tasks.js';
import { postgresHarness } from '../harness/postgres.js';
import { sqliteHarness } from '../harness/sqlite.js';

const Orders = defineTarget('Orders', { fulfil(_args: { n: number }) {} });

/** `driver` whose first `attemptGet` runs `before` first: a change landing between two statements. */
function withChangeBeforeRead(
  driver: Driver<unknown, unknown>,
  before: () => Promise<void>,
): Driver<unknown, unknown> {
  let pending: (() => Promise<void>) | undefined = before;
  const hooked = (connection: SqlConnection): SqlConnection => ({
    query: async (statement, params) => {
      if (pending && /attemptGet_[0-9a-f]{16}$/.test(statement.name)) {
        const change = pending;
        pending = undefined;
        await change();
      }
      return connection.query(statement, params);
    },
    transaction: (fn, options) => connection.transaction((tx) => fn(hooked(tx)), options),
  });
  return { ...driver, run: (fn) => driver.run((connection) => fn(hooked(connection))) };
}

interface Opened {
  harness: Harness & { close(): Promise<void> };
  /** What a cancelled run's completion writes: the running attempt ends expired. */
  expireRunning: (id: string) => Promise<void>;
}

const ended = `status = 'expired', locked_by = NULL, locked_until = NULL`;
const harnesses: [string, () => Promise<Opened>][] = [
  [
    'PostgreSQL',
    async () => {
      const harness = await postgresHarness();
      const table = `"${harness.schema}".async_task_attempts`;
      return {
        harness,
        expireRunning: async (id) =>
          void (await harness.pool.query(
            `UPDATE ${table} SET ${ended}, completed_at = now() WHERE id = $1`,
            [id],
          )),
      };
    },
  ],
  [
    'MariaDB',
    async () => {
      const harness = await mysqlHarness();
      const table = `\`${harness.database}\`.async_task_attempts`;
      return {
        harness,
        expireRunning: async (id) =>
          void (await harness.pool.query(
            `UPDATE ${table} SET ${ended}, completed_at = UTC_TIMESTAMP(3) WHERE id = ?`,
            [id],
          )),
      };
    },
  ],
  [
    'SQLite',
    async () => {
      const harness = await sqliteHarness();
      return {
        harness,
        expireRunning: (id) => {
          harness.pool
            .prepare(`UPDATE async_task_attempts SET ${ended}, completed_at = ? WHERE id = ?`)
            .run(Date.now(), Number(id));
          return Promise.resolve();
        },
      };
    },
  ],
];

for (const [label, open] of harnesses) {
  describe(`${label}: a transition racing a worker`, () => {
    let harness: (Harness & { close(): Promise<void> }) | undefined;
    afterEach(async () => {
      await harness?.close();
      harness = undefined;
    });

    it('retries an attempt that became expired between the refused write and the read', async () => {
      const opened = await open();
      harness = opened.harness;
      const { expireRunning } = opened;
      const tasks = newTasks(harness, { targets: [Orders] });
      await tasks.migrate();
      const attempt = await tasks.enqueue(harness.pool, Orders.fulfil, { n: 1 });
      // Running under a lease, as a worker holds it; then its cancelled completion lands.
      await tasks.runtime.driver.run((connection) =>
        tasks.runtime.executor(connection).attemptClaim(claimParams('w1', { limit: 1 })),
      );
      expect((await tasks.get(attempt.id))?.status).toBe('running');
      const racing = newTasks(
        {
          ...harness,
          driver: withChangeBeforeRead(harness.driver, () => expireRunning(attempt.id)),
        },
        { targets: [Orders] },
      );
      const retried = await racing.retry(attempt.id);
      expect(retried.status).toBe('pending');
    });
  });
}
