// A claim walks one priority at a time (src/dialects/priority-walk.ts), and it stepped to each
// next pending priority with a probe and a pass, two statements per priority, due or not: beside
// 5,000 attempts due tomorrow, each of its own priority, an empty claim took 1,153 ms on
// MariaDB, 420 ms on SQLite, 90 ms on PostgreSQL (inside its claim function). Each step now goes
// to the next priority with a due row, past the others in one statement, and after a claim's
// first priority takes up to 32 priorities with a due row per statement; claims of some queues
// and limited claims took one priority per pass (260-330 statements for a claim across 64
// priorities), and take lists too. What the claims take across priorities is
// test/conformance/executor-claim.test.ts's, executor-claim-queues.test.ts's and
// flow-priorities.test.ts's; this is how many statements they run.
import { afterEach, describe, expect, it } from 'vitest';
import { AsyncTask, defineTarget } from '../../src/index.js';
import type { AttemptClaimResult, Executor } from '../../src/seam/executor.js';
import type { SqlConnection } from '../../src/seam/sql-connection.js';
import { explainNested } from '../harness/claim-reads.js';
import type { Harness } from '../harness/fixture.js';
import { mysqlHarness } from '../harness/mysql.js';
import { postgresHarness } from '../harness/postgres.js';
import { sqliteHarness } from '../harness/sqlite.js';

const Noop = defineTarget('Noop', { run(_args: { i: number }) {} });

const priorities = 2000;

/**
 * An AsyncTask on `harness` with flow control on `mail` and, in each of the queues `default` and
 * `mail`, 2,000 priorities with 5 attempts each due tomorrow, and 3 due now at priority 1,500, 2
 * at 1,999.
 */
async function filled(harness: Harness): Promise<AsyncTask<unknown>> {
  const tasks = new AsyncTask({
    driver: harness.driver,
    table: harness.table,
    targets: [Noop],
    queues: { mail: { concurrency: 100 } },
  });
  await tasks.migrate();
  const tomorrow = new Date(Date.now() + 86_400_000);
  for (const queue of ['default', 'mail']) {
    const later = Array.from({ length: priorities * 5 }, (_, i) => ({
      method: Noop.run,
      args: { i },
      options: { queue, priority: i % priorities, scheduledAt: tomorrow },
    }));
    for (let from = 0; from < later.length; from += 1000) {
      await harness.transaction((tx) => tasks.enqueueMany(tx, later.slice(from, from + 1000)));
    }
    await harness.transaction((tx) =>
      tasks.enqueueMany(
        tx,
        [1500, 1500, 1500, 1999, 1999].map((priority, i) => ({
          method: Noop.run,
          args: { i },
          options: { queue, priority },
        })),
      ),
    );
  }
  return tasks;
}

const claimParams = {
  lockedBy: 'w',
  limit: 10,
  leaseMs: 60_000,
  horizon: null,
  durable: false,
} as const;

/**
 * The claims, in order: of every queue but `mail` twice (the second finds nothing), of `mail`;
 * after 64 attempts due now at priorities 3,000 to 3,063, one each, of every queue; after one
 * each at 4,000 to 4,063 in `default` and in `other`, of those two queues; after one each at
 * 5,000 to 5,063 in `other`, of that queue; after one each at 6,000 to 6,063 in `mail`, of
 * `mail` (its limit leaves room for them all).
 */
async function claims(
  tasks: AsyncTask<unknown>,
  harness: Harness,
  run: <T>(fn: (executor: Executor) => Promise<T>) => Promise<T>,
  counted: () => number,
): Promise<{ priorities: number[][]; statements: number[] }> {
  const results: AttemptClaimResult[] = [];
  const statements: number[] = [];
  const step = async (fn: (executor: Executor) => Promise<AttemptClaimResult>) => {
    const before = counted();
    results.push(await run(fn));
    statements.push(counted() - before);
  };
  const plain = { ...claimParams, queues: null, exceptQueues: ['mail'] };
  await step((executor) => executor.attemptClaim(plain));
  await step((executor) => executor.attemptClaim(plain));
  const flow = tasks.runtime.flows.get('mail')!;
  await step((executor) => executor.attemptClaimLimited({ ...claimParams, flow }));
  await harness.transaction((tx) =>
    tasks.enqueueMany(
      tx,
      sparse.map((priority) => ({ method: Noop.run, args: { i: 0 }, options: { priority } })),
    ),
  );
  await step((executor) => executor.attemptClaim({ ...claimParams, limit: 100, queues: null }));
  const spread = async (queue: string, from: number) =>
    harness.transaction((tx) =>
      tasks.enqueueMany(
        tx,
        sparse.map((_, i) => ({
          method: Noop.run,
          args: { i },
          options: { queue, priority: from + i },
        })),
      ),
    );
  await spread('default', 4000);
  await spread('other', 4000);
  const two = { ...claimParams, limit: 200, queues: ['default', 'other'] };
  await step((executor) => executor.attemptClaim(two));
  await spread('other', 5000);
  await step((executor) => executor.attemptClaim({ ...two, queues: ['other'] }));
  await spread('mail', 6000);
  await step((executor) => executor.attemptClaimLimited({ ...claimParams, limit: 100, flow }));
  return { priorities: results.map((r) => r.records.map((x) => x.priority)), statements };
}

const sparse = Array.from({ length: 64 }, (_, i) => 3000 + i);

const expected = [
  [1500, 1500, 1500, 1999, 1999],
  [],
  [1500, 1500, 1500, 1999, 1999],
  sparse,
  sparse.flatMap((_, i) => [4000 + i, 4000 + i]),
  sparse.map((_, i) => 5000 + i),
  sparse.map((_, i) => 6000 + i),
];

describe('a claim beside priorities with nothing due', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  for (const [label, open] of [
    ['mysql', () => mysqlHarness({ max: 1 })],
    ['sqlite', () => sqliteHarness()],
  ] as const) {
    it(`${label}: steps over 2,000 of them in a few statements`, async () => {
      const harness: Harness = await open();
      closers.push(() => harness.close());
      const tasks = await filled(harness);
      let ran = 0;
      const counting = (connection: SqlConnection): SqlConnection => ({
        ...connection,
        query: (statement, params) => {
          ran += 1;
          return connection.query(statement, params);
        },
        transaction: (fn, options) =>
          connection.transaction((inner) => fn(counting(inner)), options),
      });
      const result = await claims(
        tasks,
        harness,
        (fn) =>
          harness.driver.run((connection) => fn(tasks.runtime.executor(counting(connection)))),
        () => ran,
      );
      expect(result.priorities).toEqual(expected);
      // About 4,000 each when every pending priority cost a probe and a pass; 130 for the 64 (and
      // as many for those of some queues).
      for (const n of result.statements) expect(n, String(result.statements)).toBeLessThan(20);
    }, 60_000);
  }

  it('postgresql: its claim functions step over 2,000 of them in a few statements', async () => {
    // One connection: the session auto_explain reports on is the claims'.
    const harness = await postgresHarness({ max: 1 });
    closers.push(() => harness.close());
    const tasks = await filled(harness);
    const notices: string[] = [];
    const client = await harness.pool.connect();
    client.on('notice', (notice) => notices.push(notice.message ?? ''));
    await explainNested(client, false);
    client.release();
    const result = await claims(
      tasks,
      harness,
      (fn) => harness.driver.run((connection) => fn(tasks.runtime.executor(connection))),
      () => notices.length,
    );
    expect(result.priorities).toEqual(expected);
    // Each notice is a plan: a statement the session ran, the functions' own ones included.
    for (const n of result.statements) expect(n, String(result.statements)).toBeLessThan(20);
    // A list of priorities is read in its own order (a nested loop over it, each priority's rows
    // in index order, the LIMIT stopping it): a sort on that order (not one that sorts a
    // priority at a time) would read every priority of the list, and lock them in a claim.
    const listed = notices.filter((text) => text.includes('WITH ORDINALITY'));
    expect(listed.length).toBeGreaterThan(0);
    for (const plan of listed) {
      expect(plan).not.toMatch(/(?<!Incremental )Sort {2}\([^\n]*\n\s*Sort Key: p\.at\b/);
    }
  }, 60_000);
});
