// A fair queue's claim on MySQL/MariaDB ranked every due attempt of the queue by key: O(due
// backlog) per claim, 412 tasks a second at 200,000 due over 100 keys. It now walks the keys
// (key-walk-queries.ts): one index entry per key with pending attempts and each free key's first
// due ones, the rows of a claim past the first rank of every key taken by looking again.
// Correctness of fair claims on every fixture is test/conformance/flow-control.test.ts's.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AsyncTask, defineTarget } from '../../src/index.js';
import { mysqlEntriesRead } from '../harness/claim-reads.js';
import { mysqlHarness } from '../harness/mysql.js';

const Noop = defineTarget('Noop', { run(_args: { i: number }) {} });

describe('mysql fair claim', () => {
  let harness: Awaited<ReturnType<typeof mysqlHarness>>;

  beforeEach(async () => {
    // One connection: the claim's session is the one whose counters are read.
    harness = await mysqlHarness({ max: 1 });
  });

  afterEach(async () => {
    await harness.close();
  });

  async function fairTasks(keyConcurrency: number) {
    const tasks = new AsyncTask({
      driver: harness.driver,
      table: harness.table,
      targets: [Noop],
      queues: { fair: { keyConcurrency, fairness: 'key' } },
    });
    await tasks.migrate();
    return tasks;
  }

  async function enqueue(
    tasks: Awaited<ReturnType<typeof fairTasks>>,
    count: number,
    key: (i: number) => string,
  ): Promise<void> {
    for (let from = 0; from < count; from += 1000) {
      await harness.transaction((tx) =>
        tasks.enqueueMany(
          tx,
          Array.from({ length: Math.min(1000, count - from) }, (_, j) => ({
            method: Noop.run,
            args: { i: from + j },
            options: { queue: 'fair', concurrencyKey: key(from + j) },
          })),
        ),
      );
    }
  }

  async function claim(tasks: Awaited<ReturnType<typeof fairTasks>>, limit: number) {
    const flow = tasks.runtime.flows.get('fair')!;
    const claimed = await harness.driver.run((connection) =>
      tasks.runtime.executor(connection).attemptClaimLimited({
        lockedBy: 'here',
        limit,
        leaseMs: 60_000,
        horizon: null,
        durable: false,
        flow,
      }),
    );
    return claimed.records.map((record) => Number(record.id));
  }

  it('takes the first rank of every key without reading the 30,000 due', async () => {
    const tasks = await fairTasks(5);
    // Round-robin over 100 keys: attempt i (id i + 1) is key i % 100's (i / 100 + 1)-th.
    await enqueue(tasks, 30_000, (i) => `key-${i % 100}`);
    await harness.pool.query(`ANALYZE TABLE \`${harness.database}\`.async_task_attempts`);

    const before = await mysqlEntriesRead(harness.pool);
    const first = await claim(tasks, 100);
    const read = (await mysqlEntriesRead(harness.pool)) - before;
    expect(first).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    // 800 here (a step per key and its first due attempt); 60,000 when the claim
    // ranked every due attempt.
    expect(read).toBeLessThan(5000);

    // Every key's next, then the third of the first 50 keys in due order.
    expect(await claim(tasks, 150)).toEqual(Array.from({ length: 150 }, (_, i) => i + 101));
  }, 60_000);

  it('looks again when some keys have fewer due attempts than their share', async () => {
    const tasks = await fairTasks(100);
    // Nine keys with one attempt each, then one key with 300.
    await enqueue(tasks, 9, (i) => `few-${i}`);
    await enqueue(tasks, 300, () => 'many');

    // Round-robin: the nine, and the first 41 of the key with many.
    expect(await claim(tasks, 50)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  }, 60_000);
});
