import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Attempt } from './core/attempt.js';
import type { Encryptor } from './core/encryptor.js';
import type { WorkerInfo } from './core/worker-info.js';
import { ConfigError } from './core/errors.js';
import { tableLabel } from './core/table-name.js';
import type { TaskMethod } from './core/target.js';
import type { Driver, TableName } from './seam/driver.js';
import type { AttemptInsertResult } from './seam/executor.js';
import { runPass, type RunDueOptions, type RunDueResult } from './worker/pass.js';
import { Worker, type WorkerOptions } from './worker/worker.js';
import type { Runtime } from './worker/runtime.js';
import { Enqueuer, type EnqueueItem, type EnqueueParameters } from './facade/enqueuer.js';
import {
  Management,
  type AttemptStats,
  type CancelResult,
  type ListOptions,
  type PruneOptions,
} from './facade/management.js';
import { resolveOptions, type AsyncTaskOptions } from './facade/options.js';
import { resolveMigrateOptions, type MigrateOptions } from './facade/migrate-options.js';
import { SchemaCheck } from './facade/schema-check.js';

export type { EnqueueArgs, EnqueueItem, EnqueueOptions } from './facade/enqueuer.js';
export type { AttemptStats, CancelResult, ListOptions, PruneOptions } from './facade/management.js';
export type { AsyncTaskDefaults, AsyncTaskOptions, Schedule } from './facade/options.js';
export type { MigrateOptions } from './facade/migrate-options.js';
export type { WorkerInfo } from './core/worker-info.js';

/**
 * The entry point: enqueue tasks inside your transactions, perform them with `runDue` or a worker,
 * and manage them.
 *
 * @example
 * const tasks = new AsyncTask({ driver: pgDriver(pool), targets: [OrderClient] });
 * await tasks.migrate();
 * await db.transaction(async (tx) => {
 *   await tasks.enqueue(tx, OrderClient.fulfill, { orderNumber: 7 }, { idempotenceToken: 'order-7' });
 * });
 */
export class AsyncTask<
  Tx,
  HandlerTx = Tx,
  Encryptors extends Record<string, Encryptor> = Record<never, Encryptor>,
  // Only so that each entry of `schedules` has its args checked against its own method.
  const Schedules extends readonly unknown[] = readonly unknown[],
> {
  readonly #driver: Driver<Tx, HandlerTx>;
  readonly #table: TableName;
  readonly #runtime: Runtime;
  readonly #schema: SchemaCheck;
  readonly #enqueuer: Enqueuer<Tx>;
  readonly #management: Management;

  constructor(options: AsyncTaskOptions<Tx, HandlerTx, Encryptors, Schedules>) {
    const { driver, table, defaults, runtime: resolved, schemaOwner } = resolveOptions(options);
    const runtime: Runtime = {
      ...resolved,
      enqueueTicks: (schedule, ticks, due) => this.#enqueuer.enqueueTicks(schedule, ticks, due),
    };
    this.#driver = driver;
    this.#table = table;
    this.#runtime = runtime;
    this.#schema = new SchemaCheck(driver, table, schemaOwner);
    this.#enqueuer = new Enqueuer(driver, runtime, defaults);
    for (const schedule of runtime.schedules) this.#enqueuer.checkSchedule(schedule);
    this.#management = new Management(runtime);
    runtime.telemetry?.attach({
      table: tableLabel(table),
      stats: () => this.#management.stats(),
      logger: runtime.logger,
    });
  }

  /** The table, as `schema.name` or `name`. */
  get table(): string {
    return tableLabel(this.#table);
  }

  /**
   * Creates or upgrades the table. Versioned and idempotent; concurrent calls (several processes
   * starting at once) are serialised by a database lock. Refuses a schema written by a newer,
   * incompatible async-task. The version is kept with the table (its comment; a trigger on
   * SQLite), so a table dropped by hand is created afresh. With `schema: 'external'` it changes
   * nothing: it checks the version, and throws `SchemaOutdatedError` naming the command that
   * writes the missing migration files. A session holding the table (a long transaction) is
   * waited for in short tries, so that enqueues and claims are not stopped behind the migration
   * (`lockWaitMs`).
   */
  async migrate(options?: MigrateOptions): Promise<{ applied: number[] }> {
    const resolved = resolveMigrateOptions(options);
    if (this.#schema.external) {
      await this.#schema.ensure();
      return { applied: [] };
    }
    const { session } = this.#driver;
    const applied = await this.#driver.dialect.migrate(session, this.#table, resolved);
    this.#schema.passed();
    return { applied };
  }

  /**
   * Removes the table, with every attempt in it, and everything `migrate()` created with it
   * (functions, triggers, indexes, async-task 0.1's bookkeeping table). Serialised with
   * `migrate()`; `migrate()` afterwards creates everything afresh. Returns what was removed.
   *
   * @throws ConfigError with `schema: 'external'`: your migration tool owns the table
   */
  async uninstall(): Promise<{ removed: string[] }> {
    if (this.#schema.external) {
      throw new ConfigError(
        `uninstall: the schema of table ${this.table} is external (option schema); remove it with your migration tool's down migrations`,
      );
    }
    this.#schema.forget();
    const removed = await this.#driver.dialect.uninstall(this.#driver.session, this.#table);
    return { removed };
  }

  /**
   * Records a task in the caller's transaction: it exists if and only if that transaction commits.
   * With an idempotence token already present for the same target and method, returns the
   * existing attempt and writes nothing; with `replace: 'pending'` a still-pending one takes these
   * arguments and due time first (returned `pending`; any other status: left alone, as it is).
   *
   * @throws UnknownTargetError when `method` is not a method of one of `targets`
   * @throws SerializationError when `args` cannot be stored as JSON faithfully
   * @throws ConfigError for an invalid option
   */
  enqueue<Args>(
    tx: Tx,
    method: TaskMethod<Args>,
    // A rest tuple rather than an optional `args`: only a method that takes no arguments may
    // leave them out, and one signature keeps TypeScript's errors about the arguments precise.
    ...[args, options = {}]: EnqueueParameters<Args, keyof Encryptors & string>
  ): Promise<Attempt> {
    return this.#enqueuer.enqueue(tx, method, args, options);
  }

  /**
   * Records many tasks with one statement, in the caller's transaction. Every item is checked
   * before anything is written. Returns the attempts in input order.
   */
  enqueueMany<const Items extends readonly unknown[]>(
    tx: Tx,
    // `[...]` makes an array literal a tuple, so that each item gets its own method's `Args`; a
    // bare mapped type does that from TypeScript 5.4 only (before, all items shared one union).
    items: readonly [
      ...{ readonly [K in keyof Items]: EnqueueItem<Items[K], keyof Encryptors & string> },
    ],
  ): Promise<Attempt[]> {
    return this.#enqueuer.enqueueMany(tx, items);
  }

  /** The attempt with this id, or null. */
  async get(id: string): Promise<Attempt | null> {
    return this.#management.get(id);
  }

  /**
   * The full `last_error` of an encrypted task, decrypted with its encryptor: an operator's
   * explicit action (`get` and `list` show only the error's class). Null when the attempt does
   * not exist or never failed; a plain task's `last_error` as it is.
   */
  async decryptLastError(id: string): Promise<string | null> {
    return this.#management.decryptLastError(id);
  }

  /** Attempts, newest first, optionally filtered. Page with `before: lastId`. */
  async list(options: ListOptions = {}): Promise<Attempt[]> {
    return this.#management.list(options);
  }

  /** `pending` → `expired`, with `completedAt` (the gem's `expire!`). */
  async expire(id: string): Promise<Attempt> {
    return this.#management.expire(id);
  }

  /** `pending` → `failed`, with `completedAt` (the gem's `fail!`). */
  async fail(id: string): Promise<Attempt> {
    return this.#management.fail(id);
  }

  /**
   * Cancels an attempt. A pending one becomes `expired` (last error 'Cancelled') at once and never
   * runs, even if a worker is claiming it right now. A running one is asked to stop: its
   * handler's `ctx.signal` aborts with a `CancelledError` (code `CANCELLED`) within about a
   * second (at once on PostgreSQL with LISTEN, else at the worker's next look, every 500 ms), and
   * the attempt ends `expired` when the handler returns or throws, whatever it returned. A
   * finished attempt is left as it is. Never throws for a state; the result says what happened.
   *
   * @example
   * const { outcome } = await tasks.cancel(id); // 'cancelled' | 'requested' | 'finished' | 'not-found'
   */
  async cancel(id: string): Promise<CancelResult> {
    return this.#management.cancel(id);
  }

  /** `failed`/`expired` → `pending`, due now; an exhausted attempt gets room for one more run. */
  async retry(id: string): Promise<Attempt> {
    return this.#management.retry(id);
  }

  /**
   * Counts of attempts per status and queue, for every (status, queue) that has any, ordered by
   * queue then status (`pending`, `running`, `succeeded`, `failed`, `expired`).
   *
   * Pending, running, failed and expired counts are always exact, read through indexes that hold
   * only those attempts. Succeeded attempts are most of a large table, and no index holds them
   * (one would cost every completion), so above about 100,000 attempts (16 MB) their count is an
   * estimate, flagged `approximate: true`, usually within a few percent and made in tens of
   * milliseconds even at millions of rows. PostgreSQL: the table's row estimate (kept up to date
   * by autovacuum) less the exact counts, split across queues by a sample of 300 pages. MySQL and
   * SQLite: a sample of 50 evenly spaced ranges of ids. A queue with too few succeeded attempts
   * to show up in the sample gets no succeeded row. Smaller tables are counted exactly.
   *
   * @example
   * for (const { queue, status, count, approximate } of await tasks.stats()) {
   *   console.log(queue, status, approximate ? `~${count}` : count);
   * }
   */
  async stats(): Promise<AttemptStats[]> {
    return this.#management.stats();
  }

  /**
   * The workers alive now, on every host, oldest first: each started worker writes its row in the
   * worker registry, refreshes it at every heartbeat and deletes it when it stops. A worker that
   * died without stopping (kill -9, a lost host) is listed until its `aliveUntil` passes on the
   * database's clock (its last heartbeat plus three heartbeat intervals, at least its lease).
   *
   * @example
   * for (const w of await tasks.workers()) console.log(w.id, w.hostname, w.pid, w.running);
   */
  async workers(): Promise<WorkerInfo[]> {
    return this.#management.workers();
  }

  /**
   * Deletes finished attempts (`succeeded`, `failed`, `expired`) completed before `olderThan`,
   * in batches of `batchSize` (each its own short statement, so no long lock), until a batch
   * deletes fewer than `batchSize`. Returns how many were deleted. An idempotence token can be
   * used again once its attempt is pruned. With `schedules`, `olderThan` must be at least the
   * shortest retention back (a ConfigError otherwise): a tick pruned sooner would run again.
   *
   * @example
   * const deleted = await tasks.prune({ olderThan: new Date(Date.now() - 7 * 86_400_000) });
   */
  async prune(options: PruneOptions): Promise<number> {
    return this.#management.prune(options);
  }

  /**
   * One bounded pass over due tasks (the gem's batch job), for cron or serverless setups: rescues
   * expired leases, then claims and performs up to `limit` due attempts, each at most once.
   */
  async runDue(options: RunDueOptions = {}): Promise<RunDueResult> {
    await this.#schema.ensure();
    return runPass(
      this.#runtime,
      options,
      `${hostname()}:${process.pid}:runDue:${randomUUID().slice(0, 8)}`,
    );
  }

  /**
   * A long-running worker over this AsyncTask's driver and targets.
   *
   * @example
   * const worker = tasks.worker({ concurrency: 20, queues: ['default'] });
   * await worker.start();
   * process.on('SIGTERM', () => void worker.stop());
   */
  worker(options: WorkerOptions = {}): Worker {
    return Worker.create(
      this.#runtime,
      () => this.#schema.ensure(),
      (wake) => this.#enqueuer.onLocalEnqueue(wake),
      options,
    );
  }

  /**
   * @internal for async-task/testing: `observer` gets the results of every enqueue made through
   * this instance right after its INSERT (its transaction may still roll back), until the stop.
   */
  observeEnqueues(observer: (results: readonly AttemptInsertResult[]) => void): () => void {
    return this.#enqueuer.onEnqueued(observer);
  }

  /** @internal for the worker and CLI of this package. */
  get runtime(): Runtime {
    return this.#runtime;
  }

  /** @internal Checks once that `migrate()` has been run and the schema is not newer and incompatible. */
  async ensureSchema(): Promise<void> {
    return this.#schema.ensure();
  }
}
