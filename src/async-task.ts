import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import {
  allowedFrom,
  attemptStatuses,
  isAttemptId,
  toAttempt,
  type Attempt,
  type AttemptRecord,
  type AttemptStatus,
} from './core/attempt.js';
import { decodeArgs, encodeArgs } from './core/codec.js';
import type { Encryptor } from './core/encryptor.js';
import {
  ConfigError,
  InvalidStateError,
  SchemaOutdatedError,
  SerializationError,
  UnknownTargetError,
  shown,
} from './core/errors.js';
import { safeLogger, silentLogger, type Logger } from './core/logger.js';
import { decryptedErrorText, type EncryptedTaskErrors } from './core/error-text.js';
import {
  checkMaxAttempts,
  defaultBackoff,
  defaultMaxAttempts,
  type Backoff,
} from './core/retry-policy.js';
import { resolveRetention, type RetentionOptions } from './core/retention.js';
import { parseTableName } from './core/table-name.js';
import {
  checkPriority,
  checkQueue,
  methodRef,
  targetDefinition,
  type MethodRef,
  type Target,
  type TargetDefinition,
  type TaskMethod,
} from './core/target.js';
import type { Driver, TableName } from './seam/driver.js';
import type { AttemptInsertParams, Executor } from './seam/executor.js';
import type { SqlConnection } from './seam/sql-connection.js';
import { runPass, type RunDueOptions, type RunDueResult } from './worker/pass.js';
import { Worker, type WorkerOptions } from './worker/worker.js';
import type { ErrorHook, Runtime } from './worker/runtime.js';

/** Per-enqueue options; each overrides the method's, the target's and the `defaults`. */
export interface EnqueueOptions<EncryptorName extends string = string> {
  /** At most one attempt per (target, method, token): enqueueing it again returns the first. */
  readonly idempotenceToken?: string;
  /** Not run before this time. @defaultValue now, by the database's clock */
  readonly scheduledAt?: Date;
  /** Name of an encryptor from `encryptors`; `null` stores plain JSON. @defaultValue `defaults.encryptor`, else `null` */
  readonly encryptor?: EncryptorName | null;
  /** @defaultValue 25 */
  readonly maxAttempts?: number;
  /** @defaultValue `'default'` */
  readonly queue?: string;
  /** Lower runs first. @defaultValue 0 */
  readonly priority?: number;
}

/** One entry of `enqueueMany`. */
export interface EnqueueItem<Args, EncryptorName extends string = string> {
  readonly method: TaskMethod<Args>;
  readonly args: NoInfer<Args>;
  readonly options?: EnqueueOptions<EncryptorName>;
}

export interface AsyncTaskDefaults<EncryptorName extends string> {
  /** @defaultValue 25 */
  readonly maxAttempts?: number;
  /** @defaultValue `exponentialBackoff()` */
  readonly backoff?: Backoff;
  /** @defaultValue `'default'` */
  readonly queue?: string;
  /** @defaultValue 0 */
  readonly priority?: number;
  /** @defaultValue `null` (plain JSON) */
  readonly encryptor?: EncryptorName | null;
}

export interface AsyncTaskOptions<Tx, HandlerTx, Encryptors extends Record<string, Encryptor>> {
  /** The driver for your client; its pool is what the worker and `runDue` use. */
  readonly driver: Driver<Tx, HandlerTx>;
  /** Every target whose methods this process may enqueue or perform. */
  readonly targets: readonly Target[];
  /** Named codecs for arguments at rest. @defaultValue `{}` */
  readonly encryptors?: Encryptors;
  /**
   * `name` or `schema.name`, each part of letters, digits and `_`. The name may have up to 63
   * characters, 44 on PostgreSQL (the indexes and functions named after it must fit its 63-byte
   * identifiers). @defaultValue `'async_task_attempts'`
   */
  readonly table?: string;
  /** Called when a handler throws (the gem's `handle_perform_error`). */
  readonly onError?: ErrorHook;
  /**
   * What `last_error` keeps when a task stored with an encryptor fails: its message may quote
   * the arguments, so it is encrypted with the task's own encryptor (`'encrypt'`; read it back
   * with `decryptLastError`), or dropped, keeping only the error's class (`'class'`). Logs and
   * worker events carry the class only, either way.
   * @defaultValue 'encrypt'
   */
  readonly encryptedTaskErrors?: EncryptedTaskErrors;
  /** Any pino-compatible logger. Arguments are never logged. @defaultValue silent */
  readonly logger?: Logger;
  readonly defaults?: AsyncTaskDefaults<keyof Encryptors & string>;
  /**
   * How long workers keep finished attempts, counted from `completedAt`, per status. Workers
   * delete older ones in small batches, one worker per table at a time; pending and running
   * attempts are never touched. Once an attempt is deleted its idempotence token can be used
   * again. `false` keeps every attempt (the Ruby gem's behaviour; prune with `prune()` yourself).
   *
   * @defaultValue `{ succeededMs: 86_400_000, failedMs: 1_209_600_000, expiredMs: 1_209_600_000 }`
   * (1 day, 14 days, 14 days)
   * @example
   * new AsyncTask({ driver, targets, retention: { succeededMs: 3_600_000, failedMs: Infinity } });
   */
  readonly retention?: false | RetentionOptions;
}

export interface ListOptions {
  readonly status?: AttemptStatus;
  readonly target?: string;
  readonly methodName?: string;
  readonly queue?: string;
  /** Cursor: only attempts older than this id (pass the last id of the previous page). */
  readonly before?: string;
  /** @defaultValue 50 (at most 1000) */
  readonly limit?: number;
}

/** How many attempts have one status in one queue (see `stats()`). */
export interface AttemptStats {
  readonly status: AttemptStatus;
  readonly queue: string;
  readonly count: number;
  /**
   * True when `count` is an estimate: only ever for `succeeded`, and only on a large table, where
   * counting them exactly would read the whole table. Every other count is exact.
   */
  readonly approximate: boolean;
}

export interface PruneOptions {
  /** Deletes finished attempts (`succeeded`, `failed`, `expired`) completed before this time. */
  readonly olderThan: Date;
  /** Most rows one DELETE removes; each batch is its own short statement. @defaultValue 1000 */
  readonly batchSize?: number;
  /** Called after each batch with the number deleted so far. */
  readonly onProgress?: (deleted: number) => void;
}

const maxTokenLength = 255;
/** A surrogate code unit not paired with its other half (a whole pair is one code point). */
const loneSurrogate = /\p{Surrogate}/u;
const statusOrder = new Map(attemptStatuses.map((status, index) => [status, index]));

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
> {
  readonly #driver: Driver<Tx, HandlerTx>;
  readonly #table: TableName;
  readonly #targets = new Map<string, TargetDefinition>();
  readonly #encryptors: ReadonlyMap<string, Encryptor>;
  readonly #defaults: {
    maxAttempts: number;
    queue: string;
    priority: number;
    encryptor: string | null;
  };
  readonly #runtime: Runtime;
  #schemaChecked: Promise<void> | undefined;
  /** Workers of this instance, woken after a local enqueue (for databases that cannot notify). */
  readonly #localWakers = new Set<(queue: string) => void>();

  constructor(options: AsyncTaskOptions<Tx, HandlerTx, Encryptors>) {
    if (!options || typeof options.driver?.connection !== 'function') {
      throw new ConfigError(
        'new AsyncTask: `driver` is required, e.g. pgDriver(pool) from async-task/pg',
      );
    }
    this.#driver = options.driver;
    this.#table = parseTableName(
      options.table ?? 'async_task_attempts',
      this.#driver.dialect.tableNameLimit,
    );
    if (!Array.isArray(options.targets)) {
      throw new ConfigError(
        'new AsyncTask: `targets` must be an array of targets made with defineTarget',
      );
    }
    for (const target of options.targets) {
      const definition = targetDefinition(target);
      if (!definition) {
        throw new ConfigError(
          'new AsyncTask: every entry of `targets` must come from defineTarget(name, methods)',
        );
      }
      const existing = this.#targets.get(definition.name);
      if (existing && existing !== definition) {
        throw new ConfigError(
          `new AsyncTask: two different targets are named '${definition.name}'; names must be unique`,
        );
      }
      this.#targets.set(definition.name, definition);
    }
    const encryptors = new Map<string, Encryptor>();
    for (const [name, encryptor] of Object.entries(options.encryptors ?? {})) {
      if (typeof encryptor?.encrypt !== 'function' || typeof encryptor.decrypt !== 'function') {
        throw new ConfigError(
          `new AsyncTask: encryptor '${name}' must have encrypt and decrypt methods`,
        );
      }
      if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(name)) {
        throw new ConfigError(
          `new AsyncTask: encryptor name '${name}' must be 1-64 letters, digits, _ . : -`,
        );
      }
      encryptors.set(name, encryptor);
    }
    this.#encryptors = encryptors;
    const defaults = options.defaults ?? {};
    const encryptor = defaults.encryptor ?? null;
    if (encryptor !== null && !encryptors.has(encryptor)) {
      throw new ConfigError(
        `new AsyncTask: defaults.encryptor '${encryptor}' is not one of \`encryptors\``,
      );
    }
    this.#defaults = {
      maxAttempts: checkMaxAttempts(
        defaults.maxAttempts ?? defaultMaxAttempts,
        'new AsyncTask: defaults',
      ),
      queue: checkQueue(defaults.queue ?? 'default', 'new AsyncTask: defaults'),
      priority: checkPriority(defaults.priority ?? 0, 'new AsyncTask: defaults'),
      encryptor,
    };
    if (options.onError !== undefined && typeof options.onError !== 'function') {
      throw new ConfigError('new AsyncTask: onError must be a function (error, attempt) => void');
    }
    const retention = resolveRetention(options.retention, 'new AsyncTask');
    const encryptedTaskErrors = options.encryptedTaskErrors ?? 'encrypt';
    if (encryptedTaskErrors !== 'encrypt' && encryptedTaskErrors !== 'class') {
      throw new ConfigError(
        `new AsyncTask: encryptedTaskErrors must be 'encrypt' or 'class', got ${shown(encryptedTaskErrors)}`,
      );
    }
    const dialect = this.#driver.dialect;
    const table = this.#table;
    this.#runtime = {
      driver: this.#driver,
      table,
      targets: this.#targets,
      encryptors,
      defaultBackoff: defaults.backoff ?? defaultBackoff,
      onError: options.onError,
      encryptedTaskErrors,
      logger: safeLogger(options.logger ?? silentLogger),
      retention,
      executor: (connection: SqlConnection): Executor => dialect.executor(connection, table),
    };
  }

  /** The table, as `schema.name` or `name`. */
  get table(): string {
    return this.#table.schema === null
      ? this.#table.name
      : `${this.#table.schema}.${this.#table.name}`;
  }

  /**
   * Creates or upgrades the table. Versioned and idempotent; concurrent calls (several processes
   * starting at once) are serialised by a database lock. Refuses a schema written by a newer,
   * incompatible async-task.
   */
  async migrate(): Promise<{ applied: number[] }> {
    const applied = await this.#driver.dialect.migrate(this.#driver.session, this.#table);
    this.#schemaChecked = Promise.resolve();
    return { applied };
  }

  /**
   * Records a task in the caller's transaction: it exists if and only if that transaction commits.
   * With an idempotence token already present for the same target and method, returns the
   * existing attempt and writes nothing.
   *
   * @throws UnknownTargetError when `method` is not a method of one of `targets`
   * @throws SerializationError when `args` cannot be stored as JSON faithfully
   * @throws ConfigError for an invalid option
   */
  enqueue<Args>(
    tx: Tx,
    method: TaskMethod<Args>,
    args: NoInfer<Args>,
    options: EnqueueOptions<keyof Encryptors & string> = {},
  ): Promise<Attempt> {
    // Synchronous up to the INSERT (unless an encryptor is async): bad input throws at the call,
    // and a synchronous client (better-sqlite3) writes inside the caller's db.transaction().
    const { executor, synchronous } = this.#executorFor(tx, 'enqueue');
    const row = this.#prepare(method, args, options, 'enqueue');
    const insert = (prepared: AttemptInsertParams): Promise<Attempt> =>
      executor.attemptInsertMany([prepared]).then(([result]) => {
        this.#wakeLocal([prepared]);
        return toAttempt(result!.record, decodeArgs);
      });
    if (row instanceof Promise) {
      refuseLateInsert(synchronous, 'enqueue');
      return row.then(insert);
    }
    return insert(row);
  }

  /**
   * Records many tasks with one statement, in the caller's transaction. Every item is checked
   * before anything is written. Returns the attempts in input order.
   */
  enqueueMany<const Items extends readonly unknown[]>(
    tx: Tx,
    items: { readonly [K in keyof Items]: EnqueueItem<Items[K], keyof Encryptors & string> },
  ): Promise<Attempt[]> {
    const { executor, synchronous } = this.#executorFor(tx, 'enqueueMany');
    if (!Array.isArray(items)) {
      throw new ConfigError('enqueueMany: pass an array of { method, args, options? }');
    }
    const list = items as readonly EnqueueItem<unknown>[];
    const rows = list.map((item: unknown, index) => {
      if (typeof item !== 'object' || item === null) {
        throw new ConfigError(
          `enqueueMany: item ${index} must be an object { method, args, options? }; got ${item === null ? 'null' : `a ${typeof item}`}`,
        );
      }
      const { method, args, options } = item as EnqueueItem<unknown>;
      return this.#prepare(
        method,
        args,
        options === undefined ? {} : options,
        `enqueueMany: item ${index}`,
      );
    });
    if (rows.length === 0) return Promise.resolve([]);
    const insert = (prepared: AttemptInsertParams[]): Promise<Attempt[]> =>
      executor.attemptInsertMany(prepared).then((results) => {
        this.#wakeLocal(prepared);
        return results.map((result) => toAttempt(result.record, decodeArgs));
      });
    if (rows.some((row) => row instanceof Promise)) {
      refuseLateInsert(synchronous, 'enqueueMany');
      return Promise.all(rows.map((row) => Promise.resolve(row))).then(insert);
    }
    return insert(rows as AttemptInsertParams[]);
  }

  /** The attempt with this id, or null. */
  async get(id: string): Promise<Attempt | null> {
    if (!isAttemptId(id)) return null;
    const record = await this.#run((executor) => executor.attemptGet(id));
    return record ? toAttempt(record, decodeArgs) : null;
  }

  /**
   * The full `last_error` of an encrypted task, decrypted with its encryptor: an operator's
   * explicit action (`get` and `list` show only the error's class). Null when the attempt does
   * not exist or never failed; a plain task's `last_error` as it is.
   */
  async decryptLastError(id: string): Promise<string | null> {
    if (!isAttemptId(id)) return null;
    const record = await this.#run((executor) => executor.attemptGet(id));
    if (!record) return null;
    if (record.encryptor === null) return record.lastError;
    return decryptedErrorText(
      record.lastError,
      record.encryptor,
      this.#encryptors.get(record.encryptor),
    );
  }

  /** Attempts, newest first, optionally filtered. Page with `before: lastId`. */
  async list(options: ListOptions = {}): Promise<Attempt[]> {
    const { status, target, methodName, queue, before, limit = 50 } = options;
    if (status !== undefined && !attemptStatuses.includes(status)) {
      throw new ConfigError(
        `list: status must be one of ${attemptStatuses.join(', ')}, got ${JSON.stringify(status)}`,
      );
    }
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new ConfigError(`list: limit must be an integer from 1 to 1000, got ${limit}`);
    }
    if (before !== undefined && !isAttemptId(before)) {
      throw new ConfigError(`list: before must be an attempt id, got ${JSON.stringify(before)}`);
    }
    const records = await this.#run((executor) =>
      executor.attemptList({
        status: status ?? null,
        target: target ?? null,
        methodName: methodName ?? null,
        queue: queue ?? null,
        beforeId: before ?? null,
        limit,
      }),
    );
    return records.map((record) => toAttempt(record, decodeArgs));
  }

  /** `pending` → `expired`, with `completedAt` (the gem's `expire!`). */
  async expire(id: string): Promise<Attempt> {
    return this.#transition(id, 'expire', (executor) =>
      executor.attemptSetFinalIfPending(id, 'expired'),
    );
  }

  /** `pending` → `failed`, with `completedAt` (the gem's `fail!`). */
  async fail(id: string): Promise<Attempt> {
    return this.#transition(id, 'fail', (executor) =>
      executor.attemptSetFinalIfPending(id, 'failed'),
    );
  }

  /** `failed`/`expired` → `pending`, due now; an exhausted attempt gets room for one more run. */
  async retry(id: string): Promise<Attempt> {
    return this.#transition(id, 'retry', (executor) => executor.attemptSetPendingIfFinished(id));
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
    const rows = await this.#run((executor) => executor.attemptStats());
    return rows
      .map(({ status, queue, count, approximate }) => ({ status, queue, count, approximate }))
      .sort(
        (a, b) =>
          (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0) ||
          (statusOrder.get(a.status) ?? 0) - (statusOrder.get(b.status) ?? 0),
      );
  }

  /**
   * Deletes finished attempts (`succeeded`, `failed`, `expired`) completed before `olderThan`,
   * in batches of `batchSize` (each its own short statement, so no long lock), until a batch
   * deletes fewer than `batchSize`. Returns how many were deleted. An idempotence token can be
   * used again once its attempt is pruned.
   *
   * @example
   * const deleted = await tasks.prune({ olderThan: new Date(Date.now() - 7 * 86_400_000) });
   */
  async prune(options: PruneOptions): Promise<number> {
    const { olderThan, batchSize = 1000, onProgress } = options ?? {};
    if (!(olderThan instanceof Date) || Number.isNaN(olderThan.getTime())) {
      throw new ConfigError('prune: olderThan must be a valid Date');
    }
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000) {
      throw new ConfigError(
        `prune: batchSize must be an integer from 1 to 100000, got ${batchSize}`,
      );
    }
    if (onProgress !== undefined && typeof onProgress !== 'function') {
      throw new ConfigError('prune: onProgress must be a function (deleted) => void');
    }
    let deleted = 0;
    for (;;) {
      const count = await this.#run((executor) => executor.attemptPrune(olderThan, batchSize));
      deleted += count;
      onProgress?.(deleted);
      if (count < batchSize) return deleted;
    }
  }

  /**
   * One bounded pass over due tasks (the gem's batch job), for cron or serverless setups: rescues
   * expired leases, then claims and performs up to `limit` due attempts, each at most once.
   */
  async runDue(options: RunDueOptions = {}): Promise<RunDueResult> {
    await this.#ensureSchema();
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
    return new Worker(
      this.#runtime,
      () => this.#ensureSchema(),
      (wake) => {
        this.#localWakers.add(wake);
        return () => this.#localWakers.delete(wake);
      },
      options,
    );
  }

  /** @internal for the worker and CLI of this package. */
  get runtime(): Runtime {
    return this.#runtime;
  }

  /** @internal Checks once that `migrate()` has been run and the schema is not newer and incompatible. */
  async ensureSchema(): Promise<void> {
    return this.#ensureSchema();
  }

  #ensureSchema(): Promise<void> {
    this.#schemaChecked ??= this.#driver
      .run((connection) => this.#driver.dialect.schemaState(connection, this.#table))
      .then((state) => {
        const latest = this.#driver.dialect.latestVersion;
        const missing = Array.from({ length: latest }, (_, i) => i + 1).filter(
          (v) => !state.applied.includes(v),
        );
        if (state.breakingUnknown.length > 0) {
          throw new SchemaOutdatedError(
            `table ${this.table} was migrated by a newer async-task (migrations ${state.breakingUnknown.join(', ')}) that this version cannot run against; upgrade async-task`,
          );
        }
        if (missing.length > 0) {
          throw new SchemaOutdatedError(
            `table ${this.table} lacks migration(s) ${missing.join(', ')}; run \`await tasks.migrate()\` (or \`async-task migrate\`)`,
          );
        }
      })
      .catch((error: unknown) => {
        this.#schemaChecked = undefined;
        throw error;
      });
    return this.#schemaChecked;
  }

  #prepare(
    method: unknown,
    args: unknown,
    options: EnqueueOptions,
    where: string,
  ): AttemptInsertParams | Promise<AttemptInsertParams> {
    const ref = this.#resolve(method, where);
    const given: unknown = options;
    if (typeof given !== 'object' || given === null) {
      throw new ConfigError(
        `${where}: options must be an object such as { queue: 'mail' }, or left out; got ${given === null ? 'null' : `a ${typeof given}`}`,
      );
    }
    const { idempotenceToken, scheduledAt, maxAttempts, queue, priority } = options;
    if (idempotenceToken !== undefined) {
      if (
        typeof idempotenceToken !== 'string' ||
        idempotenceToken.length === 0 ||
        idempotenceToken.length > maxTokenLength
      ) {
        throw new ConfigError(
          `${where}: idempotenceToken must be a string of 1-${maxTokenLength} characters`,
        );
      }
      // Databases store text as UTF-8, where half a surrogate pair has no encoding: drivers write
      // U+FFFD instead, so the token stored is not the one given and two tokens can become one.
      if (loneSurrogate.test(idempotenceToken)) {
        throw new ConfigError(
          `${where}: idempotenceToken contains a lone surrogate (half of a UTF-16 pair, e.g. from cutting a string inside an emoji), which cannot be stored as UTF-8; pass well-formed text (token.toWellFormed() replaces it with U+FFFD)`,
        );
      }
    }
    if (
      scheduledAt !== undefined &&
      (!(scheduledAt instanceof Date) || Number.isNaN(scheduledAt.getTime()))
    ) {
      throw new ConfigError(`${where}: scheduledAt must be a valid Date`);
    }
    const encryptorName =
      options.encryptor === undefined ? this.#defaults.encryptor : options.encryptor;
    const encryptor = encryptorName === null ? null : this.#encryptors.get(encryptorName);
    if (encryptor === undefined) {
      throw new ConfigError(
        `${where}: encryptor '${String(encryptorName)}' is not one of \`encryptors\` (${[...this.#encryptors.keys()].join(', ') || 'none configured'})`,
      );
    }
    const plain = encodeArgsAt(args, where);
    const row = {
      target: ref.target,
      methodName: ref.methodName,
      methodArgs: plain,
      encryptor: encryptorName,
      maxAttempts: checkMaxAttempts(
        maxAttempts ?? ref.options.maxAttempts ?? this.#defaults.maxAttempts,
        where,
      ),
      queue: checkQueue(queue ?? ref.options.queue ?? this.#defaults.queue, where),
      priority: checkPriority(priority ?? ref.options.priority ?? this.#defaults.priority, where),
      idempotenceToken: idempotenceToken ?? null,
      scheduledAt: scheduledAt ?? null,
    };
    if (encryptor === null || plain === null) return row;
    const encrypted = encryptor.encrypt(plain);
    return typeof encrypted === 'string'
      ? { ...row, methodArgs: encrypted }
      : encrypted.then((methodArgs) => ({ ...row, methodArgs }));
  }

  #resolve(method: unknown, where: string): MethodRef {
    const ref = methodRef(method);
    if (!ref) {
      throw new UnknownTargetError(
        `${where}: the method is not part of a target; pass a method of an object made with defineTarget (e.g. OrderClient.fulfill)`,
      );
    }
    if (this.#targets.get(ref.target)?.methods.get(ref.methodName) !== ref) {
      throw new UnknownTargetError(
        `${where}: target '${ref.target}' is not in this AsyncTask's \`targets\`; add it so workers can perform ${ref.target}.${ref.methodName}`,
      );
    }
    return ref;
  }

  /**
   * The caller's transaction may not have committed yet, so the wake is deferred a turn; a worker
   * that finds nothing simply waits for the next poll.
   */
  #wakeLocal(rows: readonly AttemptInsertParams[]): void {
    if (this.#localWakers.size === 0) return;
    const queues = new Set(rows.filter((row) => row.scheduledAt === null).map((row) => row.queue));
    if (queues.size === 0) return;
    setImmediate(() => {
      for (const wake of this.#localWakers) for (const queue of queues) wake(queue);
    });
  }

  #executorFor(tx: Tx, where: string): { executor: Executor; synchronous: boolean } {
    if (tx === null || tx === undefined) {
      throw new ConfigError(`${where}: pass your transaction (or the pool) as the first argument`);
    }
    const connection = this.#driver.connection(tx);
    return {
      executor: this.#runtime.executor(connection),
      // A synchronous client inside a transaction: the INSERT must happen before enqueue returns.
      synchronous: connection.querySync !== undefined && connection.inTransaction?.() === true,
    };
  }

  #run<T>(fn: (executor: Executor) => Promise<T>): Promise<T> {
    return this.#driver.run((connection) => fn(this.#runtime.executor(connection)));
  }

  async #transition(
    id: string,
    action: keyof typeof allowedFrom,
    write: (executor: Executor) => Promise<AttemptRecord | null>,
  ): Promise<Attempt> {
    const record = isAttemptId(id) ? await this.#run(write) : null;
    if (record) return toAttempt(record, decodeArgs);
    const current = isAttemptId(id) ? await this.#run((executor) => executor.attemptGet(id)) : null;
    const from = allowedFrom[action].join(' or ');
    throw new InvalidStateError(
      id,
      current?.status ?? null,
      current
        ? `cannot ${action} attempt ${id}: it is ${current.status}, and only a ${from} attempt can be ${action === 'retry' ? 'retried' : `${action}d`}`
        : `cannot ${action} attempt ${id}: no such attempt`,
    );
  }
}

/** `encodeArgs`, with the SerializationError saying which call (and batch item) it came from. */
function encodeArgsAt(args: unknown, where: string): string | null {
  try {
    return encodeArgs(args);
  } catch (error) {
    if (!(error instanceof SerializationError)) throw error;
    throw new SerializationError(error.path, `${where}: ${error.message}`);
  }
}

/**
 * A synchronous client's transaction (better-sqlite3's db.transaction) has ended by the time an
 * async encryptor resolves: inserting then would write the task outside it, even after a rollback.
 * Outside a transaction an async encryptor is fine.
 */
function refuseLateInsert(synchronous: boolean, where: string): void {
  if (synchronous) {
    throw new ConfigError(
      `${where}: this encryptor is asynchronous, and this client's transaction is synchronous (better-sqlite3), so the task could not be written inside it; use a synchronous encryptor such as aesGcmEncryptor, or enqueue outside the transaction`,
    );
  }
}
