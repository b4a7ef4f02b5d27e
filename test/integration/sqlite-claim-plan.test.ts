// SQLite's claim walks one priority at a time, from its first due row to its first row due later,
// so attempts scheduled for later cost a claim nothing: one ordered walk over every priority read
// each pending row whenever it found fewer due rows than its limit (22 ms per empty claim beside
// 500,000 attempts due tomorrow, on a table without statistics, as a new one is).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bindStatements } from '../../src/dialects/sqlite/executor.js';
import { AsyncTask, defineTarget } from '../../src/index.js';
import { sqlitePlan } from '../harness/claim-reads.js';
import { sqliteHarness } from '../harness/sqlite.js';
import { dueAcrossPriorities } from '../harness/due-across-priorities.js';

const Noop = defineTarget('Noop', { run(_args: { i: number }) {} });

describe('sqlite claim beside attempts scheduled for later', () => {
  let harness: Awaited<ReturnType<typeof sqliteHarness>>;

  beforeEach(async () => {
    harness = await sqliteHarness();
  });

  afterEach(async () => {
    await harness.close();
  });

  it('searches the due index for one priority at a time instead of scanning it', async () => {
    const tasks = new AsyncTask({ driver: harness.driver, table: harness.table, targets: [Noop] });
    await tasks.migrate();
    const db = harness.pool;
    // 20,000 attempts due tomorrow at the first two priorities; 10 due now at the second and 5 at
    // the third. No ANALYZE: SQLite then has no statistics to skip through the index with.
    db.prepare(
      `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 20000)
       INSERT INTO async_task_attempts (target, method_name, method_args, priority, scheduled_at)
       SELECT 'Noop', 'run', '{"i":0}', n % 2 - 1, CAST(unixepoch() + 86400 AS INTEGER) * 1000 FROM g`,
    ).run();
    const due = dueAcrossPriorities(Noop.run);
    await harness.transaction((tx) => tasks.enqueueMany(tx, due));

    const statements = bindStatements({ schema: null, name: 'async_task_attempts' });
    for (const name of [
      'attemptClaim',
      'attemptClaimExcept',
      'attemptNextDuePriorities',
    ] as const) {
      const plan = sqlitePlan(db, statements[name].text);
      expect(plan, name).toMatch(
        /SEARCH async_task_attempts USING (?:COVERING )?INDEX async_task_attempts_due_idx \(priority[=>]\?/,
      );
      expect(plan, name).not.toMatch(/SCAN async_task_attempts/);
    }

    const result = await tasks.runDue();
    expect(result.succeeded).toBe(15);
    const left = db
      .prepare(`SELECT count(*) AS n FROM async_task_attempts WHERE status = 'pending'`)
      .get() as { n: number };
    expect(left.n).toBe(20_000);
  });
});
