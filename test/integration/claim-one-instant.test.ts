// A claim of several statements (one per priority, on SQLite and MySQL/MariaDB) leases every row
// from one instant, the one the claim returns as `now`: each statement once leased from its own
// clock, so under load (14 ms between two statements in a CI run) the second priority's leases
// ran past `now + leaseMs`. Statements are slowed here on purpose, 30 ms each.
import { afterEach, describe, expect, it } from 'vitest';
import { AsyncTask, defineTarget } from '../../src/index.js';
import type { AttemptClaimResult } from '../../src/seam/executor.js';
import type { SqlConnection } from '../../src/seam/sql-connection.js';
import { dueAcrossPriorities } from '../harness/due-across-priorities.js';
import { claimParams } from '../harness/executor-harness.js';
import type { Harness } from '../harness/fixture.js';
import { slowed } from '../harness/slowed-connection.js';
import { mysqlHarness } from '../harness/mysql.js';
import { sqliteHarness } from '../harness/sqlite.js';

const Noop = defineTarget('Noop', { run(_args: { i: number }) {} });

/** `connection` with every statement sent 30 ms after it is asked for, as under load. */
const slow = (connection: SqlConnection) => slowed(connection, () => 30);

const harnesses: [string, () => Promise<Harness & { close(): Promise<void> }>][] = [
  ['sqlite', () => sqliteHarness()],
  ['mysql', () => mysqlHarness()],
];

describe('a claim of several statements', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  for (const [label, open] of harnesses) {
    it(`${label}: leases every row from the claim's one instant`, async () => {
      const harness = await open();
      closers.push(() => harness.close());
      const tasks = new AsyncTask({
        driver: harness.driver,
        table: harness.table,
        targets: [Noop],
        queues: { limited: { concurrency: 12 } },
      });
      await tasks.migrate();
      const due = dueAcrossPriorities(Noop.run);
      await harness.transaction((tx) =>
        tasks.enqueueMany(tx, [
          ...due,
          ...due.map((item) => ({ ...item, options: { ...item.options, queue: 'limited' } })),
        ]),
      );
      const leaseMs = 60_000;
      const [plain, limited] = await harness.driver.run(async (connection) => {
        const executor = tasks.runtime.executor(slow(connection));
        return [
          await executor.attemptClaim(claimParams('w1', { queues: ['default'], leaseMs })),
          await executor.attemptClaimLimited({
            ...claimParams('w1', { leaseMs }),
            flow: tasks.runtime.flows.get('limited')!,
          }),
        ];
      });
      const priorities = (claim: AttemptClaimResult) => claim.records.map((r) => r.priority);
      expect(priorities(plain)).toEqual([
        ...Array<number>(10).fill(0),
        ...Array<number>(5).fill(1),
      ]);
      expect(priorities(limited)).toEqual([...Array<number>(10).fill(0), 1, 1]);
      for (const claim of [plain, limited]) {
        for (const record of claim.records) {
          expect(record.lockedUntil!.getTime() - claim.now.getTime()).toBe(leaseMs);
        }
      }
    });
  }
});
