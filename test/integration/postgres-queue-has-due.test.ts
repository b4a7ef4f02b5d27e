// When a limited queue's claim takes nothing, a probe asks whether the queue has a due attempt at
// all (FlowClaimer leaves an idle queue out for a while). The probe is a prepared statement: after
// a few runs PostgreSQL plans it once for any queue, and that generic plan, told by the statistics
// that one queue holds every row, read the queue's first due attempt from the due index of every
// queue, filtered by queue: beside a backlog of another queue it read that whole backlog, every
// probe (13-18 ms at 100,000, about 250 ms at 1,000,000; a worker with idle limited queues probes
// each of them several times a second). Counted by the server in the probes' own transaction.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AsyncTask, defineTarget, type EnqueueOptions } from '../../src/index.js';
import { claimParams } from '../harness/executor-harness.js';
import { enqueueInBatches } from '../harness/enqueue-batches.js';
import { postgresHarness } from '../harness/postgres.js';

const Noop = defineTarget('HasDue', { run(_args: { i: number }) {} });

describe('postgres: the due probe of an idle limited queue', () => {
  let harness: Awaited<ReturnType<typeof postgresHarness>>;
  let tasks: AsyncTask<unknown, unknown>;

  beforeEach(async () => {
    harness = await postgresHarness();
    tasks = new AsyncTask({
      driver: harness.driver,
      table: harness.table,
      targets: [Noop],
      queues: { idle: { concurrency: 5 }, later: { concurrency: 5 } },
    });
    await tasks.migrate();
  });

  afterEach(async () => {
    await harness.close();
  });

  /**
   * Index entries read by `probes` claims of `queue` in one transaction, all of them empty, and
   * whether the last one found the queue without a due attempt.
   */
  async function probeReads(
    queue: string,
    probes: number,
  ): Promise<{ read: number; exhausted: boolean | undefined }> {
    const flow = tasks.runtime.flows.get(queue)!;
    return harness.driver.run((connection) =>
      connection.transaction(async (tx) => {
        const read = async () => {
          const { rows } = await tx.query(
            {
              name: '',
              text: `SELECT sum(pg_stat_get_xact_tuples_returned(indexrelid))::bigint AS read
                FROM pg_index WHERE indrelid = '${harness.table}'::regclass`,
              returnsRows: true,
            },
            [],
          );
          return Number(rows[0]!['read']);
        };
        const executor = tasks.runtime.executor(tx);
        const before = await read();
        let exhausted: boolean | undefined;
        for (let i = 0; i < probes; i += 1) {
          const claim = await executor.attemptClaimLimited({ ...claimParams('w1'), flow });
          expect(claim.records).toHaveLength(0);
          exhausted = claim.exhausted;
        }
        return { read: (await read()) - before, exhausted };
      }),
    );
  }

  const enqueue = (count: number, options: (i: number) => EnqueueOptions<never>) =>
    enqueueInBatches(harness, tasks, Noop.run, count, options);

  it("reads a handful of entries beside another queue's backlog, whatever the plan", async () => {
    await enqueue(20_000, () => ({}));
    await harness.pool.query(`ANALYZE ${harness.table}`);

    // Ten probes: the later ones run the plan made for any queue.
    const { read, exhausted } = await probeReads('idle', 10);
    expect(exhausted).toBe(true);
    expect(read).toBeLessThan(10 * 20);
  });

  it('walks past the priorities whose attempts are all scheduled for later to a due one', async () => {
    const tomorrow = new Date(Date.now() + 86_400_000);
    await enqueue(20_000, () => ({}));
    await enqueue(30, (i) => ({ queue: 'later', priority: i, scheduledAt: tomorrow }));
    await enqueue(5, () => ({ queue: 'later', priority: 40 }));
    await harness.pool.query(`ANALYZE ${harness.table}`);
    const flow = tasks.runtime.flows.get('later')!;
    // The queue at its concurrency: its claims take nothing, with due attempts left.
    const first = await harness.driver.run((connection) =>
      tasks.runtime.executor(connection).attemptClaimLimited({ ...claimParams('w1'), flow }),
    );
    expect(first.records.map((r) => r.priority)).toEqual([40, 40, 40, 40, 40]);
    await enqueue(1, () => ({ queue: 'later', priority: 40 }));

    const { read, exhausted } = await probeReads('later', 10);
    expect(exhausted).toBe(false);
    // Each claim and its probe read about one entry per priority of the queue (30 scheduled for
    // later, then the due one): about 70 a probe, none of the other queue's 20,000.
    expect(read).toBeLessThan(10 * 100);
  });
});
