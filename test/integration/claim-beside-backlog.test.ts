// The claim of some queues (a worker's `queues`) and that of every queue but the limited ones
// (a worker whose AsyncTask has queues with flow control) walked the due index of every queue,
// stepping over the other queues' due rows: behind a backlog of 1,000,000 in a limited
// queue, the others ran at 500 tasks/s instead of 30,000 on PostgreSQL (2,000-3,700 on MariaDB
// and SQLite). Each now reads the queues' own stretches of the queue-leading index. That the rows
// claimed are the same is test/conformance/executor-claim.test.ts's; this is what a claim reads.
// On MySQL the limited claims' first looks walked the due index too (PostgreSQL's and SQLite's
// read their queue's stretch already).
import { afterEach, describe, expect, it } from 'vitest';
import { bindStatements } from '../../src/dialects/sqlite/executor.js';
import { AsyncTask, defineTarget } from '../../src/index.js';
import type { AttemptClaimResult } from '../../src/seam/executor.js';
import type { SqlConnection } from '../../src/seam/sql-connection.js';
import {
  explainNested,
  indexPagesRead,
  mysqlEntriesRead,
  sqlitePlan,
} from '../harness/claim-reads.js';
import { mysqlHarness } from '../harness/mysql.js';
import { postgresHarness } from '../harness/postgres.js';
import { sqliteHarness } from '../harness/sqlite.js';

const Noop = defineTarget('Noop', { run(_args: { i: number }) {} });

const claimParams = {
  lockedBy: 'w',
  limit: 100,
  leaseMs: 60_000,
  horizon: null,
  durable: false,
} as const;

describe('a claim of some queues beside another queue’s backlog', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  it('postgresql: reads the claimed queues’ rows, not the 20,000 due before them', async () => {
    // One connection: the session auto_explain reports on is the claims'.
    const harness = await postgresHarness({ max: 1 });
    closers.push(() => harness.close());
    const tasks = new AsyncTask({
      driver: harness.driver,
      table: harness.table,
      targets: [Noop],
      queues: { big: { rateLimit: { limit: 1, periodMs: 60_000 } } },
    });
    await tasks.migrate();
    const table = `"${harness.schema}".async_task_attempts`;
    await harness.pool.query(
      `INSERT INTO ${table} (target, method_name, method_args, queue, scheduled_at)
       SELECT 'Noop', 'run', '{"i":0}', 'big', now() - interval '1 hour'
       FROM generate_series(1, 20000)`,
    );
    await harness.pool.query(
      `INSERT INTO ${table} (target, method_name, method_args, queue)
       SELECT 'Noop', 'run', '{"i":0}', 'q' || g % 2 FROM generate_series(1, 10) g`,
    );
    await harness.pool.query(`VACUUM ANALYZE ${table}`);
    const notices: string[] = [];
    const client = await harness.pool.connect();
    client.on('notice', (notice) => notices.push(notice.message ?? ''));
    await explainNested(client, true);
    client.release();

    const claim = (params: { queues: string[] | null; exceptQueues?: string[] }) =>
      harness.driver.run((connection) =>
        tasks.runtime.executor(connection).attemptClaim({ ...claimParams, ...params }),
      );
    const some = await claim({ queues: ['q0'] });
    const others = await claim({ queues: null, exceptQueues: ['big'] });
    expect(some.records.map((r) => r.queue)).toEqual(Array(5).fill('q0'));
    expect(others.records.map((r) => r.queue)).toEqual(Array(5).fill('q1'));

    // Pages (buffer hits, the table's included) of the scans of the indexes of pending rows: 25
    // measured; 783 when each claim walked the due index of every queue and read each row for
    // its queue.
    const read = ['due_idx', 'queue_due_idx', 'queue_key_due_idx']
      .map((index) => indexPagesRead(notices, `async_task_attempts_${index}`))
      .reduce((a, b) => a + b, 0);
    const plans = `${read} pages:\n${notices.join('\n---\n')}`;
    expect(read, plans).toBeGreaterThan(0);
    expect(read, plans).toBeLessThan(100);
  });

  it('sqlite: claims through each queue’s stretch of the queue-leading index', async () => {
    const harness = await sqliteHarness();
    closers.push(() => harness.close());
    const tasks = new AsyncTask({ driver: harness.driver, table: harness.table, targets: [Noop] });
    await tasks.migrate();
    const db = harness.pool;
    db.prepare(
      `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 20000)
       INSERT INTO async_task_attempts (target, method_name, method_args, queue, scheduled_at)
       SELECT 'Noop', 'run', '{"i":0}', 'big', CAST(unixepoch() - 3600 AS INTEGER) * 1000 FROM g`,
    ).run();
    await harness.transaction((tx) =>
      tasks.enqueueMany(
        tx,
        Array.from({ length: 10 }, (_, i) => ({
          method: Noop.run,
          args: { i },
          options: { queue: `q${i % 2}` },
        })),
      ),
    );

    // The statements a claim runs, by name.
    const ran: string[] = [];
    const statements = bindStatements({ schema: null, name: 'async_task_attempts' });
    const nameOf = new Map(Object.entries(statements).map(([name, s]) => [s.name, name]));
    const recording = (connection: SqlConnection): SqlConnection => ({
      ...connection,
      query: (statement, params) => {
        ran.push(nameOf.get(statement.name) ?? statement.name);
        return connection.query(statement, params);
      },
    });
    const claim = (params: { queues: string[] | null; exceptQueues?: string[] }) =>
      harness.driver.run((connection) =>
        tasks.runtime.executor(recording(connection)).attemptClaim({ ...claimParams, ...params }),
      );
    const some = await claim({ queues: ['q0'] });
    const others = await claim({ queues: null, exceptQueues: ['big'] });
    expect(some.records.map((r) => r.queue)).toEqual(Array(5).fill('q0'));
    expect(others.records.map((r) => r.queue)).toEqual(Array(5).fill('q1'));
    const both = await claim({ queues: ['q0', 'q1'] });
    expect(both.records).toEqual([]);
    expect(ran.filter((name) => name.startsWith('attemptClaim'))).toEqual([
      'attemptClaimQueue',
      'attemptClaimQueue',
      'attemptClaimQueues2',
    ]);

    // Each queue's arm is a search of the queue-leading index by queue, priority and due time.
    const plan = (name: keyof typeof statements): string => sqlitePlan(db, statements[name].text);
    for (const arms of [2, 4, 8, 16, 32] as const) {
      const name = `attemptClaimQueues${arms}` as const;
      const searches = plan(name).match(
        /SEARCH async_task_attempts USING (?:COVERING )?INDEX async_task_attempts_queue_due_idx \(queue=\? AND priority=\? AND scheduled_at<\?\)/g,
      );
      expect(searches?.length, plan(name)).toBe(arms);
      expect(plan(name)).not.toMatch(/SCAN async_task_attempts\b/);
    }
    expect(plan('attemptClaimQueue')).toMatch(
      /SEARCH async_task_attempts USING (?:COVERING )?INDEX async_task_attempts_queue_due_idx \(queue=\? AND priority=\? AND scheduled_at<\?\)/,
    );
    expect(plan('attemptClaimQueue')).not.toMatch(/SCAN async_task_attempts\b|TEMP B-TREE/);
    // The loose scan's first step reads the index's first entry (in order, LIMIT 1).
    expect(plan('attemptPendingQueues')).not.toMatch(
      /SCAN async_task_attempts(?! USING COVERING INDEX async_task_attempts_queue_due_idx)/,
    );
  });

  it('mysql: reads the claimed queues’ entries, not the 20,000 due before them', async () => {
    // One connection: the claims' session is the one whose counters are read.
    const harness = await mysqlHarness({ max: 1 });
    closers.push(() => harness.close());
    const tasks = new AsyncTask({ driver: harness.driver, table: harness.table, targets: [Noop] });
    await tasks.migrate();
    const item = (queue: string, i: number) => ({
      method: Noop.run,
      args: { i },
      options: { queue },
    });
    for (let from = 0; from < 20_000; from += 1000) {
      await harness.transaction((tx) =>
        tasks.enqueueMany(
          tx,
          Array.from({ length: 1000 }, (_, i) => item('big', from + i)),
        ),
      );
    }
    await harness.transaction((tx) =>
      tasks.enqueueMany(
        tx,
        Array.from({ length: 10 }, (_, i) => item(`q${i % 2}`, i)),
      ),
    );
    // As InnoDB's statistics are once it has counted the rows (it does so in the background):
    // without them the server reads the whole index to list its queues (20,010 entries).
    await harness.pool.query(`ANALYZE TABLE \`${harness.database}\`.async_task_attempts`);
    const claim = (params: { queues: string[] | null; exceptQueues?: string[] }) =>
      harness.driver.run((connection) =>
        tasks.runtime.executor(connection).attemptClaim({ ...claimParams, ...params }),
      );

    const before = await mysqlEntriesRead(harness.pool);
    const some = await claim({ queues: ['q0'] });
    const others = await claim({ queues: null, exceptQueues: ['big'] });
    const read = (await mysqlEntriesRead(harness.pool)) - before;
    expect(some.records.map((r) => r.queue)).toEqual(Array(5).fill('q0'));
    expect(others.records.map((r) => r.queue)).toEqual(Array(5).fill('q1'));
    // 40,025 when each claim walked the due index of every queue.
    expect(read).toBeLessThan(200);
  }, 60_000);

  it('mysql: a limited claim reads its queue’s entries, not the 20,000 due before them', async () => {
    const harness = await mysqlHarness({ max: 1 });
    closers.push(() => harness.close());
    const tasks = new AsyncTask({
      driver: harness.driver,
      table: harness.table,
      targets: [Noop],
      queues: { mail: { concurrency: 3 }, sms: { rateLimit: { limit: 100, periodMs: 60_000 } } },
    });
    await tasks.migrate();
    const item = (queue: string, i: number, concurrencyKey?: string) => ({
      method: Noop.run,
      args: { i },
      options: { queue, ...(concurrencyKey !== undefined && { concurrencyKey }) },
    });
    for (let from = 0; from < 20_000; from += 1000) {
      await harness.transaction((tx) =>
        tasks.enqueueMany(
          tx,
          Array.from({ length: 1000 }, (_, i) => item('big', from + i)),
        ),
      );
    }
    await harness.transaction((tx) =>
      tasks.enqueueMany(tx, [
        ...Array.from({ length: 5 }, (_, i) => item('mail', i)),
        ...Array.from({ length: 5 }, (_, i) => item('sms', i)),
      ]),
    );
    const claim = (queue: string, limit = 100) =>
      harness.driver.run((connection) =>
        tasks.runtime.executor(connection).attemptClaimLimited({
          ...claimParams,
          limit,
          flow: tasks.runtime.flows.get(queue)!,
        }),
      );

    const before = await mysqlEntriesRead(harness.pool);
    const mail = await claim('mail');
    const sms = await claim('sms', 2);
    const read = (await mysqlEntriesRead(harness.pool)) - before;
    const numbers = (claimed: AttemptClaimResult) =>
      claimed.records.map((r) => (JSON.parse(r.methodArgs!) as { i: number }).i);
    expect(numbers(mail)).toEqual([0, 1, 2]);
    expect(numbers(sms)).toEqual([0, 1]);
    // 40,030 when each first look walked the due index of every queue.
    expect(read).toBeLessThan(200);

    // A row with a key lies in its key's stretch of the index: the look walks the due index then.
    await harness.transaction((tx) => tasks.enqueueMany(tx, [item('sms', 5, 'k')]));
    const keyed = await claim('sms');
    expect(numbers(keyed)).toEqual([2, 3, 4, 5]);
  }, 60_000);
});
