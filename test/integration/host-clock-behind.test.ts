// A host whose clock runs two minutes behind the database's. Due times, leases and retention are
// the database's; what this process decides must agree with them: MySQL's marker holds (an
// enqueue threw though its rows were committed, as a worker claimed them first) and a schedule's
// retention bound (a tick pruned by the database's clock was enqueued, and run, again).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defineTarget } from '../../src/index.js';
import type { SqlConnection } from '../../src/seam/sql-connection.js';
import { Scheduler } from '../../src/worker/scheduler.js';
import { claimParams, insertRow } from '../harness/executor-harness.js';
import type { Harness } from '../harness/fixture.js';
import { mysqlHarness } from '../harness/mysql.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { postgresHarness } from '../harness/postgres.js';
import { sqliteHarness } from '../harness/sqlite.js';

const behindMs = 120_000;

/** This process's `Date.now()` two minutes behind (the databases' clocks are the machine's). */
function hostClockBehind(): void {
  const real = Date.now.bind(Date);
  vi.spyOn(Date, 'now').mockImplementation(() => real() - behindMs);
}

const Beat = defineTarget('Beat', { beat(_args: undefined) {} });

const harnesses: [string, () => Promise<Harness>][] = [
  ['postgres', () => postgresHarness()],
  ['mysql', () => mysqlHarness()],
  ['sqlite', () => sqliteHarness()],
];

describe('a host clock behind the database’s', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    for (const close of closers.splice(0)) await close();
  });
  const open = async (make: () => Promise<Harness>): Promise<Harness> => {
    const harness = await make();
    closers.push(() => harness.close());
    return harness;
  };

  it('mysql: rows an enqueue marks stay out of a claim’s reach until it reads them back', async () => {
    const harness = await open(() => mysqlHarness());
    const tasks = await migratedTasks(harness, { targets: [] });
    hostClockBehind();
    const claimedBetween: number[] = [];
    // A worker's claim between the enqueue's INSERT and its read-back, on a connection of its own.
    const racedByClaim = (connection: SqlConnection): SqlConnection => ({
      query: async (statement, params) => {
        const result = await connection.query(statement, params);
        if (statement.name.includes('attemptInsertMany')) {
          const claim = await harness.driver.run((other) =>
            tasks.runtime.executor(other).attemptClaim(claimParams('racing-worker')),
          );
          claimedBetween.push(claim.records.length);
        }
        return result;
      },
      transaction: (fn, options) => connection.transaction((tx) => fn(racedByClaim(tx)), options),
    });
    // Outside a transaction, as an enqueue on the pool: the INSERT commits on its own.
    const inserted = await harness.driver.run((connection) =>
      tasks.runtime
        .executor(racedByClaim(connection))
        .attemptInsertMany([insertRow(), insertRow()]),
    );
    expect(claimedBetween).toEqual([0]);
    expect(inserted.map((result) => result.record.status)).toEqual(['pending', 'pending']);
    expect(inserted.every((result) => result.record.lockedBy === null)).toBe(true);
  });

  for (const [label, make] of harnesses) {
    it(`${label}: a schedule enqueues no tick older than the retention by the database’s clock`, async () => {
      const harness = await open(make);
      const tasks = await migratedTasks(harness, {
        targets: [Beat],
        schedules: [
          { name: 'beat', cron: '* * * * * *', method: Beat.beat, args: undefined, catchUp: 3 },
        ],
        retention: { succeededMs: 5000 },
      });
      const scheduler = new Scheduler(tasks.runtime, (error) => {
        throw error;
      });
      hostClockBehind();
      // The host's newest ticks are two minutes old by the database's clock, past the 5 s
      // retention: another worker may have run them and pruned their attempts.
      expect(await scheduler.enqueueDue(new Date(Date.now()))).toBe(0);
      expect(await tasks.list({ limit: 10 })).toEqual([]);
      // With the clocks agreeing again, the ticks within the retention are enqueued.
      vi.restoreAllMocks();
      expect(await scheduler.enqueueDue()).toBeGreaterThanOrEqual(1);
    });
  }
});
