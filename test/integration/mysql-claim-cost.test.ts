// A claim on MySQL/MariaDB costs the rows it takes, not the attempts scheduled for later: the
// claim index holds every pending row, and one walk over all priorities read each of them
// whenever it found fewer due rows than its limit (every claim of an idle or keeping-up worker).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AsyncTask, defineTarget } from '../../src/index.js';
import { mysqlEntriesRead } from '../harness/claim-reads.js';
import { mysqlHarness } from '../harness/mysql.js';
import { dueAcrossPriorities } from '../harness/due-across-priorities.js';

const Noop = defineTarget('Noop', { run(_args: { i: number }) {} });

describe('mysql claim beside attempts scheduled for later', () => {
  let harness: Awaited<ReturnType<typeof mysqlHarness>>;

  beforeEach(async () => {
    // One connection: the claim's session is the one whose counters are read.
    harness = await mysqlHarness({ max: 1 });
  });

  afterEach(async () => {
    await harness.close();
  });

  it('reads a few index entries per priority, not the 65,536 pending tomorrow', async () => {
    const tasks = new AsyncTask({ driver: harness.driver, table: harness.table, targets: [Noop] });
    await tasks.migrate();
    const table = `\`${harness.database}\`.async_task_attempts`;
    await tasks.enqueue(
      harness.pool,
      Noop.run,
      { i: 0 },
      { scheduledAt: new Date(Date.now() + 86_400_000) },
    );
    // Doubled 16 times: 65,536 attempts due tomorrow, half at the first priority, half at the second.
    for (let i = 0; i < 16; i++) {
      await harness.pool.query(
        `INSERT INTO ${table} (target, method_name, method_args, priority, scheduled_at, created_at, updated_at)
         SELECT target, method_name, method_args, IF(id % 2 = 0, -1, 0), scheduled_at, created_at, updated_at
         FROM ${table}`,
      );
    }
    const due = dueAcrossPriorities(Noop.run);
    await harness.transaction((tx) => tasks.enqueueMany(tx, due));
    await harness.pool.query(`ANALYZE TABLE ${table}`);

    const before = await mysqlEntriesRead(harness.pool);
    const result = await tasks.runDue();
    const read = (await mysqlEntriesRead(harness.pool)) - before;
    expect(result.succeeded).toBe(15);
    expect(read).toBeLessThan(1000);
  });
});
