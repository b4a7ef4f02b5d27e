import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { Command, Option } from 'commander';
import { AsyncTask } from '../../async-task.js';
import type { Attempt } from '../../core/attempt.js';
import { defineTarget, type TaskContext } from '../../core/target.js';
import {
  betterSqlite3Driver,
  type BetterSqlite3Database,
  type BetterSqlite3Driver,
  type BetterSqlite3Statement,
} from '../../drivers/better-sqlite3.js';
import { integerIn, out, outJson, type JsonOption } from '../common.js';
import { importClient } from '../database.js';
import { CliError } from '../errors.js';
import { Progress, formatCount, formatDuration } from '../progress.js';

interface DemoOptions extends JsonOption {
  readonly orders: number;
  readonly file?: string;
  readonly keep?: boolean;
  readonly progress: boolean;
  readonly concurrency: number;
}

/** better-sqlite3 as the demo uses it (the package ships no types). */
interface DemoDatabase extends BetterSqlite3Database {
  prepare(source: string): BetterSqlite3Statement & { get(...params: unknown[]): unknown };
  exec(source: string): unknown;
  transaction<F extends (...args: never[]) => unknown>(fn: F): F;
}

type DemoDatabaseConstructor = new (file: string, options?: object) => DemoDatabase;

/** Thrown inside an order's transaction to roll it back on purpose. */
class OrderCancelled extends Error {}

// Which orders roll back, which fulfilments fail on their first run and which orders are
// enqueued twice: pseudo-random but fixed per order number, so every run (and a test) can
// predict the outcome.
const rollsBack = (n: number): boolean => chance(n, 1) < 0.1;
const failsFirstTime = (n: number): boolean => chance(n, 2) < 0.15;
const submittedTwice = (n: number): boolean => chance(n, 3) < 0.05;

/** A number in [0, 1) from `n` and `salt` (a 32-bit integer hash). */
function chance(n: number, salt: number): number {
  let h = Math.imul(n ^ Math.imul(salt, 0x9e3779b9), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return ((h ^ (h >>> 16)) >>> 0) / 2 ** 32;
}

interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export function demoCommand(): Command {
  return new Command('demo')
    .summary('a shop on embedded SQLite that checks the guarantees')
    .description(
      'run a small shop on an embedded SQLite file (no server needed) and check the guarantees',
    )
    .addOption(
      new Option('--orders <n>', 'orders to place (1-1000000)')
        .default(2000)
        .argParser(integerIn(1, 1_000_000)),
    )
    .option('--file <path>', 'SQLite file to create (default: a new file in the temp folder)')
    .option('--keep', 'keep the database file afterwards, to explore it with the other commands')
    .addOption(
      new Option('-c, --concurrency <n>', 'worker handlers at once (1-100)')
        .default(16)
        .argParser(integerIn(1, 100)),
    )
    .option('--no-progress', 'no progress display on stderr')
    .option('--json', 'print the summary as JSON')
    .addHelpText(
      'after',
      `
Each order is one transaction that writes an \`orders\` row and enqueues
Shop.fulfill with the idempotence token fulfil-<order>; about 10% roll back on
purpose, about 5% enqueue twice. The handler fails on about 15% of first runs
(retried after 50 ms) and writes a \`fulfilments\` row through ctx.transaction.
The summary checks: one task per committed order, none for rolled-back ones,
all succeeded, retries as injected, one fulfilment per order.
Exit code 1 if a check fails.`,
    )
    .action(runDemo);
}

async function runDemo(options: DemoOptions): Promise<void> {
  const Database = await importClient<DemoDatabaseConstructor>('better-sqlite3', 'better-sqlite3');
  const file = resolve(
    options.file ?? join(tmpdir(), `async-task-demo-${process.pid}-${Date.now()}.db`),
  );
  if (existsSync(file)) {
    throw new CliError(
      `${file} already exists; the demo starts from a new file (pass another --file)`,
    );
  }
  const started = performance.now();
  const db = new Database(file);
  let driver: BetterSqlite3Driver<DemoDatabase> | undefined;
  try {
    // WAL with synchronous=NORMAL: SQLite's recommended pairing; durable against crashes of the
    // process, and it keeps thousands of small commits fast.
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(`
      CREATE TABLE orders (
        number INTEGER PRIMARY KEY,
        customer TEXT NOT NULL,
        total_cents INTEGER NOT NULL,
        placed_at INTEGER NOT NULL);
      CREATE TABLE fulfilments (
        id INTEGER PRIMARY KEY,
        order_number INTEGER NOT NULL,
        attempt_id TEXT NOT NULL,
        fulfilled_at INTEGER NOT NULL);
      CREATE INDEX fulfilments_order_idx ON fulfilments (order_number);`);

    const Shop = defineTarget(
      'Shop',
      {
        // An arrow property, so `Shop.fulfill` can be passed around without its object.
        fulfill: async (args: { orderNumber: number }, ctx: TaskContext<DemoDatabase>) => {
          if (ctx.attempt.numAttempts === 1 && failsFirstTime(args.orderNumber)) {
            throw new Error(
              `the warehouse did not answer for order ${args.orderNumber} (on purpose)`,
            );
          }
          // The fulfilment row and the task's success commit together, exactly once.
          await ctx.transaction((tx) => {
            tx.prepare(
              'INSERT INTO fulfilments (order_number, attempt_id, fulfilled_at) VALUES (?, ?, ?)',
            ).run(args.orderNumber, ctx.attempt.id, Date.now());
            return Promise.resolve();
          });
        },
      },
      { backoff: () => 50, maxAttempts: 5 },
    );

    driver = betterSqlite3Driver(db, {
      openWorkerConnection: () => {
        const worker = new Database(file, { fileMustExist: true });
        worker.pragma('synchronous = NORMAL');
        return worker;
      },
    });
    const tasks = new AsyncTask({ driver, targets: [Shop] });
    await tasks.migrate();

    // 1. The shop takes orders: each order is one transaction.
    const placing = new Progress({
      label: 'placing orders',
      total: options.orders,
      enabled: options.progress,
    });
    const insertOrder = db.prepare(
      'INSERT INTO orders (number, customer, total_cents, placed_at) VALUES (?, ?, ?, ?)',
    );
    const enqueued: Promise<Attempt>[] = [];
    const placeOrder = db.transaction((n: number) => {
      insertOrder.run(n, `customer-${n % 97}`, 500 + Math.floor(chance(n, 4) * 20_000), Date.now());
      const enqueue = (): void => {
        enqueued.push(
          tasks.enqueue(db, Shop.fulfill, { orderNumber: n }, { idempotenceToken: `fulfil-${n}` }),
        );
      };
      enqueue();
      if (submittedTwice(n)) enqueue(); // a double click: same token, still one task
      if (rollsBack(n)) throw new OrderCancelled(`order ${n} rolled back on purpose`);
    });
    const counts = { committed: 0, rolledBack: 0, twice: 0, injected: 0 };
    const placingStarted = performance.now();
    for (let n = 1; n <= options.orders; n += 1) {
      try {
        placeOrder(n);
        counts.committed += 1;
        if (submittedTwice(n)) counts.twice += 1;
        if (failsFirstTime(n)) counts.injected += 1;
      } catch (error) {
        if (!(error instanceof OrderCancelled)) throw error;
        counts.rolledBack += 1;
      }
      if (n % 100 === 0 || n === options.orders) {
        placing.update(n, `${formatCount(counts.rolledBack)} rolled back`);
        await yieldToEventLoop();
      }
    }
    await Promise.all(enqueued);
    placing.finish();
    const placingMs = performance.now() - placingStarted;

    // 2. A worker drains the queue.
    const draining = new Progress({
      label: 'fulfilling',
      total: counts.committed,
      enabled: options.progress,
    });
    const outcome = { succeeded: 0, retried: 0, failed: 0 };
    const worker = tasks.worker({ concurrency: options.concurrency, pollIntervalMs: 20 });
    const drainingStarted = performance.now();
    const drained = new Promise<boolean>((resolveDrained) => {
      const settle = (): void => {
        draining.update(
          outcome.succeeded + outcome.failed,
          `${formatCount(outcome.retried)} retries`,
        );
        if (outcome.succeeded + outcome.failed >= counts.committed) resolveDrained(true);
      };
      worker.on('succeeded', () => {
        outcome.succeeded += 1;
        settle();
      });
      worker.on('failed', () => {
        outcome.failed += 1;
        settle();
      });
      worker.on('retried', () => {
        outcome.retried += 1;
        settle();
      });
      if (counts.committed === 0) resolveDrained(true);
    });
    await worker.start();
    let timer: NodeJS.Timeout | undefined;
    const limitMs = 60_000 + counts.committed * 20;
    const finished = await Promise.race([
      drained,
      new Promise<boolean>((resolveTimeout) => {
        timer = setTimeout(() => resolveTimeout(false), limitMs);
      }),
    ]);
    clearTimeout(timer);
    await worker.stop();
    draining.finish(`${formatCount(outcome.retried)} retries`);
    const drainingMs = performance.now() - drainingStarted;

    // 3. What the database says, straight from SQL.
    const one = (sql: string): number =>
      Number((db.prepare(sql).get() as { n: number | bigint } | undefined)?.n ?? 0);
    const orders = one('SELECT count(*) AS n FROM orders');
    const taskCount = one(`SELECT count(*) AS n FROM async_task_attempts WHERE target = 'Shop'`);
    const orphanTasks = one(`
      SELECT count(*) AS n FROM async_task_attempts AS a
      WHERE NOT EXISTS (SELECT 1 FROM orders AS o WHERE a.idempotence_token = 'fulfil-' || o.number)`);
    const succeeded = one(
      `SELECT count(*) AS n FROM async_task_attempts WHERE status = 'succeeded'`,
    );
    const retries = one('SELECT coalesce(sum(num_attempts - 1), 0) AS n FROM async_task_attempts');
    const fulfilments = one('SELECT count(*) AS n FROM fulfilments');
    const duplicates = one('SELECT count(*) - count(DISTINCT order_number) AS n FROM fulfilments');
    const elapsedMs = performance.now() - started;

    const equal = (a: number, b: number): string => `${formatCount(a)} = ${formatCount(b)}`;
    const checks: Check[] = [
      {
        name: 'orders in the table = committed orders',
        ok: orders === counts.committed,
        detail: equal(orders, counts.committed),
      },
      {
        name: 'tasks = committed orders',
        ok: taskCount === counts.committed,
        detail: equal(taskCount, counts.committed),
      },
      {
        name: 'tasks for rolled-back orders',
        ok: orphanTasks === 0,
        detail: formatCount(orphanTasks),
      },
      {
        name: 'tasks succeeded',
        ok: finished && succeeded === counts.committed,
        detail: `${formatCount(succeeded)} of ${formatCount(counts.committed)}${finished ? '' : ` (not drained within ${formatDuration(limitMs)})`}`,
      },
      {
        name: 'retries = failures injected',
        ok: retries === counts.injected,
        detail: equal(retries, counts.injected),
      },
      {
        name: 'fulfilments = committed orders',
        ok: fulfilments === counts.committed,
        detail: equal(fulfilments, counts.committed),
      },
      { name: 'duplicate fulfilments', ok: duplicates === 0, detail: formatCount(duplicates) },
    ];
    const failedChecks = checks.filter((check) => !check.ok).length;

    if (options.json) {
      outJson({
        file,
        orders: {
          placed: options.orders,
          committed: counts.committed,
          rolledBack: counts.rolledBack,
          enqueuedTwice: counts.twice,
        },
        tasks: taskCount,
        tasksForRolledBackOrders: orphanTasks,
        succeeded,
        failed: outcome.failed,
        retries,
        failuresInjected: counts.injected,
        fulfilments,
        duplicateFulfilments: duplicates,
        elapsedMs: Math.round(elapsedMs),
        placingMs: Math.round(placingMs),
        drainingMs: Math.round(drainingMs),
        checks,
        ok: failedChecks === 0,
      });
    } else {
      const width = Math.max(...checks.map((check) => check.name.length));
      out(`async-task demo: a small shop on SQLite, no server (${file})`);
      out();
      out(`placed ${formatCount(options.orders)} orders, each in its own transaction that writes`);
      out('the order and enqueues Shop.fulfill (idempotence token fulfil-<order>)');
      out(`  committed                  ${formatCount(counts.committed).padStart(9)}`);
      out(`  rolled back on purpose     ${formatCount(counts.rolledBack).padStart(9)}`);
      out(`  enqueued twice, one token  ${formatCount(counts.twice).padStart(9)}`);
      out(
        `a worker (${options.concurrency} handlers) fulfilled them; ~15% of first runs failed on`,
      );
      out('purpose and were retried 50 ms later');
      out();
      for (const check of checks) {
        out(`  ${check.ok ? '✓' : '✗'} ${check.name.padEnd(width)}  ${check.detail}`);
      }
      out();
      const rate = drainingMs > 0 ? Math.round((counts.committed / drainingMs) * 1000) : 0;
      out(
        `elapsed ${formatDuration(elapsedMs)} (placing orders ${formatDuration(placingMs)}, fulfilling ${formatDuration(drainingMs)}: ${formatCount(rate)} tasks/s)`,
      );
      out(
        failedChecks === 0
          ? `all ${checks.length} checks passed`
          : `${failedChecks} of ${checks.length} checks FAILED`,
      );
      if (options.keep) {
        out();
        out(`kept ${file}; look around with:`);
        out(`  async-task stats --database-url ${file}`);
        out(`  async-task list --database-url ${file} --limit 5`);
      }
    }
    if (failedChecks > 0) {
      throw new CliError(`demo: ${failedChecks} of ${checks.length} checks failed`);
    }
  } finally {
    await driver?.close().catch(() => undefined);
    if (db.open) db.close();
    if (!options.keep) {
      for (const suffix of ['', '-wal', '-shm', '-journal'])
        rmSync(`${file}${suffix}`, { force: true });
    }
  }
}
