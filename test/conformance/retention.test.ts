// Retention: the worker's pruner deletes finished attempts past their status's retention, and
// nothing else; one process prunes a table at a time.
import { adHoc } from '../../src/dialects/statements.js';
import { describe, expect, it } from 'vitest';
import { parseTableName } from '../../src/core/table-name.js';
import { quoteTable as quoteMysql } from '../../src/dialects/mysql/executor.js';
import { quoteTable as quotePostgres } from '../../src/dialects/postgres/executor.js';
import { quoteTable as quoteSqlite } from '../../src/dialects/sqlite/executor.js';
import type { Statement } from '../../src/seam/sql-connection.js';
import {
  PermanentError,
  defineTarget,
  type AsyncTask,
  type RetentionOptions,
} from '../../src/index.js';
import { Pruner } from '../../src/worker/pruner.js';
import { coveredBy, fixtures, itOnNativeDrivers } from '../harness/dialects.js';
import type { DialectFixture, Harness } from '../harness/fixture.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { useHarness } from '../harness/use-harness.js';
import { waitFor } from '../harness/wait-for.js';

const hour = 3_600_000;
const day = 24 * hour;

function targets() {
  return defineTarget('Shop', {
    ship(_args: { n: number }) {},
    refund(_args: { n: number }) {
      throw new PermanentError('no such order');
    },
  });
}

type Dialect = DialectFixture['dialect'];

/** Plain SQL on the harness's own driver, for what the public API cannot do (age a row). */
function sql(harness: Harness, text: string, params: readonly unknown[] = []): Promise<unknown> {
  const statement: Statement = adHoc(text);
  return harness.driver.run((connection) => connection.query(statement, params));
}

function quoted(harness: Harness, dialect: Dialect): string {
  const table = parseTableName(harness.table);
  return { postgres: quotePostgres, mysql: quoteMysql, sqlite: quoteSqlite }[dialect](table);
}

const sqliteNow = `CAST(round(unixepoch('subsec') * 1000) AS INTEGER)`;

/**
 * Makes the attempts with ids from `from` to `to` look `ms` old: finished ones completed then,
 * and every one created no later (as a real attempt would have been).
 */
async function age(
  harness: Harness,
  dialect: Dialect,
  from: string,
  to: string,
  ms: number,
): Promise<void> {
  const t = quoted(harness, dialect);
  if (dialect === 'postgres') {
    const then = `now() - $3::float8 * interval '1 millisecond'`;
    await sql(
      harness,
      `UPDATE ${t} SET created_at = least(created_at, ${then}),
         completed_at = CASE WHEN completed_at IS NULL THEN NULL ELSE ${then} END
       WHERE id BETWEEN $1::bigint AND $2::bigint`,
      [from, to, ms],
    );
  } else if (dialect === 'mysql') {
    const then = `UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND`;
    await sql(
      harness,
      `UPDATE ${t} SET created_at = LEAST(created_at, ${then}),
         completed_at = CASE WHEN completed_at IS NULL THEN NULL ELSE ${then} END
       WHERE id BETWEEN CAST(? AS UNSIGNED) AND CAST(? AS UNSIGNED)`,
      [ms * 1000, ms * 1000, from, to],
    );
  } else {
    await sql(
      harness,
      `UPDATE ${t} SET created_at = min(created_at, ${sqliteNow} - ?),
         completed_at = CASE WHEN completed_at IS NULL THEN NULL ELSE ${sqliteNow} - ? END
       WHERE id BETWEEN CAST(? AS INTEGER) AND CAST(? AS INTEGER)`,
      [ms, ms, from, to],
    );
  }
}

/** Every pending attempt marked succeeded `ms` ago: many finished attempts, quickly. */
async function succeedAllPending(harness: Harness, dialect: Dialect, ms: number): Promise<void> {
  const t = quoted(harness, dialect);
  const text = {
    postgres: `UPDATE ${t} SET status = 'succeeded',
      completed_at = now() - $1::float8 * interval '1 millisecond', created_at = least(created_at, now() - $1::float8 * interval '1 millisecond')
      WHERE status = 'pending'`,
    mysql: `UPDATE ${t} SET status = 'succeeded',
      completed_at = UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND, created_at = LEAST(created_at, UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND)
      WHERE status = 'pending'`,
    sqlite: `UPDATE ${t} SET status = 'succeeded', completed_at = ${sqliteNow} - ?,
      created_at = min(created_at, ${sqliteNow} - ?) WHERE status = 'pending'`,
  }[dialect];
  const params = { postgres: [ms], mysql: [ms * 1000, ms * 1000], sqlite: [ms, ms] }[dialect];
  await sql(harness, text, params);
}

/**
 * Holds the table's prune lock, as another process's pruner would, while `fn` runs: inside a
 * transaction of the harness, whose connection stays the same throughout on every client.
 */
async function holdingPruneLock<T>(
  harness: Harness,
  dialect: 'postgres' | 'mysql',
  fn: () => Promise<T>,
): Promise<T> {
  const table = parseTableName(harness.table);
  return harness.transaction(async (tx) => {
    const connection = harness.driver.connection(tx);
    const run = (text: string, params: readonly unknown[]) => connection.query(adHoc(text), params);
    if (dialect === 'postgres') {
      await run('SELECT true AS locked FROM pg_advisory_xact_lock(hashtext($1))', [
        `async-task:prune:${quotePostgres(table)}`,
      ]);
      return fn();
    }
    const name = `CONCAT('async_task_prune:', LEFT(SHA2(CONCAT(COALESCE(?, DATABASE(), ''), '.', ?), 256), 40))`;
    const { rows } = await run(`SELECT GET_LOCK(${name}, 10) AS acquired`, [
      table.schema,
      table.name,
    ]);
    expect(Number(rows[0]?.['acquired'])).toBe(1);
    try {
      return await fn();
    } finally {
      await run(`SELECT RELEASE_LOCK(${name}) AS released`, [table.schema, table.name]);
    }
  });
}

async function ids(tasks: AsyncTask<unknown, unknown>): Promise<string[]> {
  return (await tasks.list({ limit: 1000 })).map((attempt) => attempt.id).sort();
}

interface Options {
  readonly retention?: false | RetentionOptions;
}

const firstOfDialect = new Set(
  ['postgres', 'mysql', 'sqlite'].flatMap((dialect) => {
    const first = fixtures.find((fixture) => fixture.dialect === dialect);
    return first ? [first.label] : [];
  }),
);

for (const fixture of fixtures) {
  describe(fixture.label, () => {
    const harness = useHarness(fixture);
    const aboveDriver = itOnNativeDrivers(
      fixture,
      `the retention rules under test are the AsyncTask’s; every driver runs the prune statements in ${coveredBy('conformance/retention.test.ts', 'deletes finished attempts past their own status’s retention, and nothing else')} and ${coveredBy('conformance/executor-writes.test.ts', 'attemptPruneWindow deletes, window by window')}`,
    );
    const dialect = fixture.dialect;

    const setup = async (options: Options = {}) => {
      const shop = targets();
      const tasks = await migratedTasks(harness(), { targets: [shop], ...options });
      return { shop, tasks };
    };

    // Waits for the worker's first prune round: about 8 s.
    const itOnNative = itOnNativeDrivers(
      fixture,
      `the prune schedule under test is the worker’s; the prune statements run through every driver in ${coveredBy('conformance/retention.test.ts', 'lets several pruners on one table run at once')}`,
    );
    itOnNative(
      'a worker prunes by itself a few seconds after it starts; with retention: false it keeps everything',
      async () => {
        const kept = await setup({ retention: false });
        const pruned = await setup({ retention: { succeededMs: hour } });
        const h = harness();
        const [first] = await h.transaction((tx) =>
          kept.tasks.enqueueMany(
            tx,
            Array.from({ length: 5 }, (_, n) => ({ method: kept.shop.ship, args: { n } })),
          ),
        );
        expect(await kept.tasks.runDue()).toMatchObject({ succeeded: 5 });
        await age(h, dialect, first!.id, String(Number(first!.id) + 4), 3 * day);
        const keeping = kept.tasks.worker({ pollIntervalMs: 100 });
        await keeping.start();
        await new Promise((resolve) => setTimeout(resolve, 4500));
        await keeping.stop();
        expect(await ids(kept.tasks)).toHaveLength(5);

        const pruning = pruned.tasks.worker({ pollIntervalMs: 100 });
        await pruning.start();
        try {
          await waitFor(
            'the worker to prune',
            async () => (await ids(pruned.tasks)).length === 0,
            10_000,
          );
        } finally {
          await pruning.stop();
        }
      },
      30_000,
    );

    it('deletes finished attempts past their own status’s retention, and nothing else', async () => {
      const { shop, tasks } = await setup({
        retention: { succeededMs: hour, failedMs: day, expiredMs: hour },
      });
      const h = harness();
      const [ok, okRecent, bad, badRecent, expired, pending, later, held] = await h.transaction(
        (tx) =>
          tasks.enqueueMany(tx, [
            { method: shop.ship, args: { n: 1 } },
            { method: shop.ship, args: { n: 2 } },
            { method: shop.refund, args: { n: 3 }, options: { maxAttempts: 1 } },
            { method: shop.refund, args: { n: 4 }, options: { maxAttempts: 1 } },
            { method: shop.ship, args: { n: 5 }, options: { queue: 'later' } },
            { method: shop.ship, args: { n: 6 }, options: { queue: 'later' } },
            {
              method: shop.ship,
              args: { n: 7 },
              options: { scheduledAt: new Date(Date.now() + day) },
            },
            { method: shop.ship, args: { n: 8 }, options: { queue: 'held' } },
          ]),
      );
      await tasks.runDue({ queues: ['default'] }); // ok, okRecent succeed; bad, badRecent fail
      await tasks.expire(expired!.id);
      const claimed = await h.driver.run((connection) =>
        tasks.runtime.executor(connection).attemptClaim({
          lockedBy: 'test-worker',
          limit: 10,
          leaseMs: 60_000,
          queues: ['held'],
          horizon: null,
          durable: false,
        }),
      );
      expect(claimed.records.map((record) => record.id)).toEqual([held!.id]);
      // Everything created three days ago; finished attempts completed then, except the two recent.
      await age(h, dialect, ok!.id, held!.id, 3 * day);
      await age(h, dialect, okRecent!.id, okRecent!.id, 30 * 60_000);
      await age(h, dialect, badRecent!.id, badRecent!.id, 2 * hour);

      const pruner = new Pruner(tasks.runtime);
      expect(await pruner.pruneOnce()).toBe(3); // ok (3 days > 1 h), bad (3 days > 1 day), expired

      expect(await ids(tasks)).toEqual(
        [okRecent!.id, badRecent!.id, pending!.id, later!.id, held!.id].sort(),
      );
      expect(await tasks.get(bad!.id)).toBeNull();
      expect((await tasks.get(held!.id))?.status).toBe('running');
      expect((await tasks.get(pending!.id))?.status).toBe('pending');
      expect(await pruner.pruneOnce()).toBe(0);
      await pruner.close();
    });

    aboveDriver(
      'keeps the idempotence token of a live attempt; a pruned attempt’s token is free again',
      async () => {
        const { shop, tasks } = await setup({ retention: { succeededMs: hour } });
        const h = harness();
        const live = await tasks.enqueue(
          h.pool,
          shop.ship,
          { n: 1 },
          { idempotenceToken: 'live', scheduledAt: new Date(Date.now() + day) },
        );
        const done = await tasks.enqueue(h.pool, shop.ship, { n: 2 }, { idempotenceToken: 'done' });
        await tasks.runDue();
        await age(h, dialect, live.id, done.id, 2 * hour);

        // Before pruning, the finished attempt still holds its token.
        expect(
          (await tasks.enqueue(h.pool, shop.ship, { n: 3 }, { idempotenceToken: 'done' })).id,
        ).toBe(done.id);
        expect(await new Pruner(tasks.runtime).pruneOnce()).toBe(1);

        const again = await tasks.enqueue(
          h.pool,
          shop.ship,
          { n: 4 },
          { idempotenceToken: 'live' },
        );
        expect(again.id).toBe(live.id);
        const fresh = await tasks.enqueue(
          h.pool,
          shop.ship,
          { n: 5 },
          { idempotenceToken: 'done' },
        );
        expect(fresh.id).not.toBe(done.id);
        expect(fresh).toMatchObject({ status: 'pending', args: { n: 5 } });
      },
    );

    aboveDriver('sweeps in bounded rounds that carry on where the last one stopped', async () => {
      const { shop, tasks } = await setup({ retention: { succeededMs: hour } });
      const h = harness();
      await h.transaction((tx) =>
        tasks.enqueueMany(
          tx,
          Array.from({ length: 50 }, (_, n) => ({ method: shop.ship, args: { n } })),
        ),
      );
      await succeedAllPending(h, dialect, 2 * hour);
      await tasks.enqueue(h.pool, shop.ship, { n: 50 }); // recent: where each sweep ends

      const pruner = new Pruner(tasks.runtime, { batchSize: 10, maxBatches: 2 });
      expect(await pruner.pruneOnce()).toBe(20);
      expect(await pruner.pruneOnce()).toBe(20);
      expect(await pruner.pruneOnce()).toBe(10);
      expect(await pruner.pruneOnce()).toBe(0);
      expect(await h.countAttempts()).toBe(1);
    });

    it('lets several pruners on one table run at once: each attempt deleted once, no errors', async () => {
      const { shop, tasks } = await setup({ retention: { succeededMs: hour } });
      const other = (await setup({ retention: { succeededMs: hour } })).tasks;
      const h = harness();
      await h.transaction((tx) =>
        tasks.enqueueMany(
          tx,
          Array.from({ length: 300 }, (_, n) => ({ method: shop.ship, args: { n } })),
        ),
      );
      await succeedAllPending(h, dialect, 2 * hour);

      const pruners = [tasks, other, tasks, other].map(
        (instance) => new Pruner(instance.runtime, { batchSize: 20, maxBatches: 1000 }),
      );
      const deleted = await Promise.all(pruners.map((pruner) => pruner.pruneOnce()));
      expect(deleted.reduce((sum, n) => sum + n, 0)).toBe(300);
      expect(await h.countAttempts()).toBe(0);
    });

    // SQLite takes no prune lock (its single writer serialises the deletes): the test above, four
    // pruners at once deleting each row exactly once, is what covers it there.
    if (dialect !== 'sqlite') {
      it('skips its round while another process holds the table’s prune lock', async () => {
        const { shop, tasks } = await setup({ retention: { succeededMs: hour } });
        const h = harness();
        const attempt = await tasks.enqueue(h.pool, shop.ship, { n: 1 });
        await succeedAllPending(h, dialect, 2 * hour);
        const pruner = new Pruner(tasks.runtime);

        expect(await holdingPruneLock(h, dialect, () => pruner.pruneOnce())).toBe(0);
        expect((await tasks.get(attempt.id))?.status).toBe('succeeded');
        expect(await pruner.pruneOnce()).toBe(1);
      });
    }

    aboveDriver(
      'prunes nothing with retention: false, and keeps forever a status given Infinity',
      async () => {
        const { shop, tasks } = await setup({ retention: false });
        const h = harness();
        const [a, b] = await h.transaction((tx) =>
          tasks.enqueueMany(tx, [
            { method: shop.ship, args: { n: 1 } },
            { method: shop.refund, args: { n: 2 }, options: { maxAttempts: 1 } },
          ]),
        );
        await tasks.runDue();
        await age(h, dialect, a!.id, b!.id, 400 * day);
        expect(tasks.runtime.retention).toBeNull();
        expect(await new Pruner(tasks.runtime).pruneOnce()).toBe(0);
        expect(await h.countAttempts()).toBe(2);

        const keepFailed = (await setup({ retention: { succeededMs: 0, failedMs: Infinity } }))
          .tasks;
        expect(await new Pruner(keepFailed.runtime).pruneOnce()).toBe(1);
        expect(await ids(tasks)).toEqual([b!.id]);
      },
    );

    if (firstOfDialect.has(fixture.label)) {
      it('prunes on its own once started, and stops when closed', async () => {
        const { shop, tasks } = await setup({ retention: { succeededMs: hour } });
        const h = harness();
        const attempt = await tasks.enqueue(h.pool, shop.ship, { n: 1 });
        await succeedAllPending(h, dialect, 2 * hour);
        const pruner = new Pruner(tasks.runtime);
        pruner.start();
        await waitFor('the first round', async () => (await h.countAttempts()) === 0);
        expect(await tasks.get(attempt.id)).toBeNull();
        await pruner.close();
        expect(await pruner.pruneOnce()).toBe(0);
      });
    }
  });
}
