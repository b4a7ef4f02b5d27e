// A claim from a queue with flow control costs the rows it takes, not the queue's attempts
// scheduled for later. Its walk of the due index went over every priority at once, so the due
// time bounded nothing: each claim that found fewer due rows than it looked for (every poll of an
// idle worker, every pickup) read each pending row of the queue. Beside 400,000 attempts due
// tomorrow: 60 ms per runDue on PostgreSQL (3 ms without them), 83 ms on MariaDB beside 200,000
// (10 ms), 34 ms on SQLite (2.6 ms). The correctness of the walk across priorities is
// test/conformance/flow-priorities.test.ts's.
import { afterEach, describe, expect, it } from 'vitest';
import type { RowDataPacket } from 'mysql2';
import { bindStatements as bindMysqlStatements } from '../../src/dialects/mysql/bound-statements.js';
import { bindStatements as bindPgStatements } from '../../src/dialects/postgres/executor.js';
import { bindStatements } from '../../src/dialects/sqlite/executor.js';
import { AsyncTask, defineTarget } from '../../src/index.js';
import {
  explainNested,
  indexPagesRead,
  mysqlEntriesRead,
  sqlitePlan,
} from '../harness/claim-reads.js';
import type { Harness } from '../harness/fixture.js';
import { mysqlHarness } from '../harness/mysql.js';
import { postgresHarness } from '../harness/postgres.js';
import { sqliteHarness } from '../harness/sqlite.js';

const Noop = defineTarget('Noop', { run(_args: { i: number }) {} });

const queues = {
  plain: { concurrency: 50 },
  keyed: { keyConcurrency: 1 },
  fair: { keyConcurrency: 1, fairness: 'key' as const },
};
type QueueName = keyof typeof queues;
const queueNames = Object.keys(queues) as QueueName[];

/** Items due now: 3 per queue at priority 0 and 2 at priority 1, keyed where the queue is. */
function dueItems() {
  return queueNames.flatMap((queue) =>
    [0, 0, 0, 1, 1].map((priority, i) => ({
      method: Noop.run,
      args: { i },
      options: { queue, priority, ...(queue === 'plain' ? {} : { concurrencyKey: `k${i}` }) },
    })),
  );
}

/** An AsyncTask with the three limited queues, migrated. */
async function limitedTasks(harness: Pick<Harness, 'driver' | 'table'>) {
  const tasks = new AsyncTask({
    driver: harness.driver,
    table: harness.table,
    targets: [Noop],
    queues,
  });
  await tasks.migrate();
  return tasks;
}

describe('limited claims beside attempts scheduled for later', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  it('postgresql: the claims read a few index pages, not the 60,000 entries due tomorrow', async () => {
    const harness = await postgresHarness();
    closers.push(() => harness.close());
    const tasks = await limitedTasks(harness);
    const table = `"${harness.schema}".async_task_attempts`;
    // 20,000 per queue due tomorrow, at the first priority and at the first due one.
    await harness.pool.query(
      `INSERT INTO ${table} (target, method_name, method_args, queue, priority, scheduled_at,
         concurrency_key)
       SELECT 'Noop', 'run', '{"i":0}', q, g % 2 - 1, now() + interval '1 day',
         CASE WHEN q = 'plain' THEN NULL ELSE 'k' || g % 7 END
       FROM generate_series(1, 20000) g, unnest(ARRAY['plain', 'keyed', 'fair']) q`,
    );
    await tasks.enqueueMany(harness.pool, dueItems());
    await harness.pool.query(`VACUUM ANALYZE ${table}`);

    const client = await harness.pool.connect();
    const notices: string[] = [];
    client.on('notice', (notice) => notices.push(notice.message ?? ''));
    try {
      await explainNested(client, true);
      const claimed: number[] = [];
      for (const queue of queueNames) {
        const flow = queues[queue];
        const { rowCount } = await client.query(
          `SELECT * FROM "${harness.schema}".async_task_attempts_claim_limited(
             'w1', 100, 60000, NULL, $1, $2, $3, $4, NULL, NULL, NULL, false)`,
          [
            queue,
            'concurrency' in flow ? flow.concurrency : null,
            'keyConcurrency' in flow ? flow.keyConcurrency : 1,
            'fairness' in flow,
          ],
        );
        claimed.push(rowCount ?? 0);
      }
      // Every key's first: plain takes all 5; keyed and fair one per key (k0..k4).
      expect(claimed).toEqual([5, 5, 5]);
    } finally {
      client.release();
    }
    // Pages of the queue-leading due index the claims' walks and probes read: about 110 here (per
    // claim, a few for each probe and each pass of each priority); one walk over every priority
    // read 819 (the 60,000 entries due tomorrow fill about 300, and a short first look read them
    // twice).
    const pages = indexPagesRead(notices, 'async_task_attempts_queue_due_idx');
    const plans = `${pages} pages:\n${notices.join('\n---\n')}`;
    expect(pages, plans).toBeGreaterThan(0);
    expect(pages, plans).toBeLessThan(200);
  });

  it('postgresql: a claim that took nothing asks whether anything is due in a few index pages', async () => {
    const harness = await postgresHarness();
    closers.push(() => harness.close());
    await limitedTasks(harness);
    const table = `"${harness.schema}".async_task_attempts`;
    // 20,000 per queue due tomorrow at priorities -1 and 0; 'plain' has 20,000 due now at 0 too.
    // No ANALYZE.
    await harness.pool.query(
      `INSERT INTO ${table} (target, method_name, method_args, queue, priority, scheduled_at)
       SELECT 'Noop', 'run', '{"i":0}', q, g % 2 - 1, now() + interval '1 day'
       FROM generate_series(1, 20000) g, unnest(ARRAY['plain', 'keyed', 'fair']) q`,
    );
    await harness.pool.query(
      `INSERT INTO ${table} (target, method_name, method_args, queue, priority)
       SELECT 'Noop', 'run', '{"i":0}', 'plain', 0 FROM generate_series(1, 20000)`,
    );
    const probe = bindPgStatements({ schema: harness.schema, name: 'async_task_attempts' })
      .attemptQueueHasDue.text;
    const client = await harness.pool.connect();
    const notices: string[] = [];
    client.on('notice', (notice) => notices.push(notice.message ?? ''));
    try {
      await explainNested(client, true);
      const due = async (queue: string) =>
        (await client.query(probe, [queue, null])).rows.length > 0;
      expect(await due('plain')).toBe(true);
      expect(await due('keyed')).toBe(false);
      expect(await due('idle')).toBe(false);
    } finally {
      client.release();
    }
    // A descent or two per priority and queue: 26 pages here. With no statistics yet (as after a
    // burst) a due check written as EXISTS read every due attempt of the queue (799 pages), and
    // one by priority and due time apart the due index's other queues' too (962).
    const pages =
      indexPagesRead(notices, 'async_task_attempts_queue_due_idx') +
      indexPagesRead(notices, 'async_task_attempts_due_idx') +
      indexPagesRead(notices, 'async_task_attempts_queue_key_due_idx');
    const plans = `${pages} pages:\n${notices.join('\n---\n')}`;
    expect(pages, plans).toBeGreaterThan(0);
    expect(pages, plans).toBeLessThan(40);
  });

  it('mysql: the claims read a few index entries per priority, not the 65,536 due tomorrow', async () => {
    // One connection: the claims' session is the one whose counters are read.
    const harness = await mysqlHarness({ max: 1 });
    closers.push(() => harness.close());
    const tasks = await limitedTasks(harness);
    const table = `\`${harness.database}\`.async_task_attempts`;
    await tasks.enqueue(
      harness.pool,
      Noop.run,
      { i: 0 },
      { queue: 'keyed', concurrencyKey: 'k', scheduledAt: new Date(Date.now() + 86_400_000) },
    );
    // Doubled 16 times: 65,536 due tomorrow, spread over the queues and two priorities.
    for (let i = 0; i < 16; i++) {
      await harness.pool.query(
        `INSERT INTO ${table} (target, method_name, method_args, queue, priority, scheduled_at,
           concurrency_key, created_at, updated_at)
         SELECT target, method_name, method_args, ELT(1 + id % 3, 'plain', 'keyed', 'fair'),
           IF(id % 2 = 0, -1, 0), scheduled_at, IF(id % 3 = 0, NULL, concurrency_key),
           created_at, updated_at
         FROM ${table}`,
      );
    }
    await harness.transaction((tx) => tasks.enqueueMany(tx, dueItems()));
    await harness.pool.query(`ANALYZE TABLE ${table}`);

    const before = await mysqlEntriesRead(harness.pool);
    const result = await tasks.runDue();
    const read = (await mysqlEntriesRead(harness.pool)) - before;
    expect(result.succeeded).toBe(15);
    expect(read).toBeLessThan(1000);
  });

  it('mysql: the candidates count running rows and starts per key without a join buffer', async () => {
    // MariaDB joined the counts per key (derived tables) to the candidates by block nested loop:
    // every candidate compared with every busy key, 190 ms per claim at 900 busy keys.
    const harness = await mysqlHarness({ max: 1 });
    closers.push(() => harness.close());
    await limitedTasks(harness);
    const statements = bindMysqlStatements({
      schema: harness.database,
      name: 'async_task_attempts',
    });
    const names = [
      'attemptClaimLimitedFirstLook',
      'attemptClaimLimitedFirstLookLowest',
      'attemptClaimLimitedCandidates',
      'attemptClaimLimitedCandidatesLowest',
      'attemptClaimLimitedByKey',
      'attemptClaimFairByKey',
    ] as const;
    for (const name of names) {
      const text = statements[name].text;
      const params = text
        .split('?')
        .slice(1)
        .map(() => 1);
      const [plan] = await harness.pool.query<({ Extra: string | null } & RowDataPacket)[]>(
        `EXPLAIN ${text}`,
        params,
      );
      // The fair look pairs every group (a key, or the rows without one) with every pending
      // priority, the JSON_TABLE: a cross join, whose every pair is wanted.
      const extras = plan
        .map((row) => row.Extra ?? '')
        .filter((extra) => !extra.startsWith('Table function: json_table'))
        .join('\n');
      expect(extras, name).not.toMatch(/join buffer/i);
    }
  });

  it("sqlite: the claim searches the queue's due rows one priority at a time", async () => {
    const harness = await sqliteHarness();
    closers.push(() => harness.close());
    const tasks = await limitedTasks(harness);
    const db = harness.pool;
    // 20,000 per queue due tomorrow, at the first priority and at the first due one. No ANALYZE.
    db.prepare(
      `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 20000)
       INSERT INTO async_task_attempts (target, method_name, method_args, queue, priority,
         scheduled_at, concurrency_key)
       SELECT 'Noop', 'run', '{"i":0}', q.value, n % 2 - 1,
         CAST(unixepoch() + 86400 AS INTEGER) * 1000,
         CASE WHEN q.value = 'plain' THEN NULL ELSE 'k' || n % 7 END
       FROM g, json_each('["plain","keyed","fair"]') AS q`,
    ).run();
    await harness.transaction((tx) => tasks.enqueueMany(tx, dueItems()));

    const statements = bindStatements({ schema: null, name: 'async_task_attempts' });
    const plan = (name: 'attemptClaimLimited' | 'attemptNextDueQueuePriorities'): string =>
      sqlitePlan(db, statements[name].text);
    expect(plan('attemptClaimLimited')).toMatch(
      /SEARCH async_task_attempts USING INDEX async_task_attempts_queue_due_idx \(queue=\? AND priority=\? AND scheduled_at<\?\)/,
    );
    expect(plan('attemptNextDueQueuePriorities')).toMatch(
      /SEARCH async_task_attempts USING (?:COVERING )?INDEX async_task_attempts_queue_due_idx \(queue=\? AND priority>\?\)/,
    );
    const result = await tasks.runDue();
    expect(result.succeeded).toBe(15);
  });
});
