import { toAttempt, type Attempt } from '../core/attempt.js';
import { decodeArgs, encodeArgs } from '../core/codec.js';
import { ConfigError, SerializationError, UnknownTargetError } from '../core/errors.js';
import { checkConcurrencyKey } from '../core/flow.js';
import type { JsonArgs } from '../core/json-args.js';
import type { Uninferred } from '../core/uninferred.js';
import { tickToken, type ScheduleDefinition } from '../core/schedule.js';
import { checkMaxAttempts } from '../core/retry-policy.js';
import {
  checkPriority,
  checkQueue,
  methodRef,
  type MethodRef,
  type TaskMethod,
} from '../core/target.js';
import type { Driver } from '../seam/driver.js';
import type { AttemptInsertParams, AttemptInsertResult, Executor } from '../seam/executor.js';
import type { EnqueueOperation } from '../seam/telemetry.js';
import type { Runtime } from '../worker/runtime.js';
import {
  checkEnqueueOptionNames,
  checkItemKeys,
  checkReplace,
  checkToken,
} from './enqueue-checks.js';

/** Per-enqueue options; each overrides the method's, the target's and the `defaults`. */
export type EnqueueOptions<EncryptorName extends string = never> =
  EnqueueRowOptions<EncryptorName> &
    (
      | {
          /** At most one attempt per (target, method, token): enqueueing it again returns the first. */
          readonly idempotenceToken?: string;
          /** Only with an `idempotenceToken`. */
          readonly replace?: undefined;
        }
      | {
          /** At most one attempt per (target, method, token): enqueueing it again returns the first. */
          readonly idempotenceToken: string;
          /**
           * Debounce, "latest wins": if the attempt holding this token is still `pending`, its
           * arguments, encryptor and due time become this call's (the rest stays its own), and the
           * call returns it, `pending`. If it is `running` or finished it is left alone and
           * returned as it is: these arguments were not recorded. Else, a plain enqueue.
           */
          readonly replace: 'pending';
        }
    );

/** The options of `EnqueueOptions` that describe the row, whatever its token. */
export interface EnqueueRowOptions<EncryptorName extends string = never> {
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
  /**
   * Groups attempts of a queue with flow control (the AsyncTask's `queues`): at most its
   * `keyConcurrency` (default 1) run at once per key, across all workers; `fairness: 'key'`
   * claims round-robin across keys. 1-255 characters; a ConfigError for a queue without limits.
   * @example { queue: 'mail', concurrencyKey: `customer:${customer.id}` }
   */
  readonly concurrencyKey?: string;
}

/**
 * The `args` that `enqueue` takes for a method whose arguments are `Args`: `Args` as JSON can
 * carry it ({@link JsonArgs}), with `Args` decided by the method alone ({@link Uninferred}), so
 * arguments that do not fit are an error at `args`, never a different `Args`.
 */
export type EnqueueArgs<Args> = JsonArgs<Uninferred<Args>>;

/**
 * What `enqueue` takes after the method: its arguments, which may be left out where the method
 * takes none (no parameter, or an optional one), then the options.
 */
export type EnqueueParameters<Args, EncryptorName extends string = string> = undefined extends Args
  ? [args?: EnqueueArgs<Args>, options?: EnqueueOptions<EncryptorName>]
  : [args: EnqueueArgs<Args>, options?: EnqueueOptions<EncryptorName>];

/** One entry of `enqueueMany`; `args` may be left out where the method takes none. */
export type EnqueueItem<Args, EncryptorName extends string = never> = {
  readonly method: TaskMethod<Args>;
  readonly options?: EnqueueOptions<EncryptorName>;
} & (undefined extends Args
  ? { readonly args?: EnqueueArgs<Args> }
  : { readonly args: EnqueueArgs<Args> });

/** The `defaults` of `AsyncTaskOptions` that a row takes when neither call nor method sets them. */
export interface EnqueueDefaults {
  readonly maxAttempts: number;
  readonly queue: string;
  readonly priority: number;
  readonly encryptor: string | null;
}

/** What `#prepare` takes for one tick of a schedule. */
function tickEnqueue(
  schedule: ScheduleDefinition,
  tick: Date,
): [method: unknown, args: unknown, options: EnqueueOptions<string>, where: string] {
  const options = {
    ...schedule.options,
    idempotenceToken: tickToken(schedule.name, tick),
    scheduledAt: tick,
  };
  return [schedule.method, schedule.args, options, `schedule '${schedule.name}'`];
}

/**
 * Turns `enqueue` calls into rows (target check, options, codec, encryption) and inserts them in
 * the caller's transaction.
 */
export class Enqueuer<Tx> {
  readonly #driver: Driver<Tx, unknown>;
  readonly #runtime: Runtime;
  readonly #defaults: EnqueueDefaults;
  /** Workers of this instance, woken after a local enqueue (for databases that cannot notify). */
  readonly #localWakers = new Set<(queue: string) => void>();
  /** Told of every insert made through this instance (async-task/testing's runInline). */
  readonly #observers = new Set<(results: readonly AttemptInsertResult[]) => void>();

  constructor(driver: Driver<Tx, unknown>, runtime: Runtime, defaults: EnqueueDefaults) {
    this.#driver = driver;
    this.#runtime = runtime;
    this.#defaults = defaults;
  }

  enqueue(
    tx: Tx,
    method: unknown,
    args: unknown,
    options: EnqueueOptions<string>,
  ): Promise<Attempt> {
    // Synchronous up to the INSERT (unless an encryptor is async): bad input throws at the call,
    // and a synchronous client (better-sqlite3) writes inside the caller's db.transaction().
    const { executor, synchronous } = this.#executorFor(tx, 'enqueue');
    const row = this.#prepare(method, args, options, 'enqueue');
    const insert = (prepared: AttemptInsertParams): Promise<Attempt> =>
      this.#insert(executor, [prepared], 'enqueue').then((results) => {
        const [result] = results;
        this.#wakeLocal([prepared]);
        this.#observe(results);
        return toAttempt(result!.record, decodeArgs);
      });
    if (row instanceof Promise) {
      refuseLateInsert(synchronous, 'enqueue');
      return row.then(insert);
    }
    return insert(row);
  }

  enqueueMany(tx: Tx, items: unknown): Promise<Attempt[]> {
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
      checkItemKeys(item, `enqueueMany: item ${index}`);
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
      this.#insert(executor, prepared, 'enqueue_many').then((results) => {
        this.#wakeLocal(prepared);
        this.#observe(results);
        return results.map((result) => toAttempt(result.record, decodeArgs));
      });
    if (rows.some((row) => row instanceof Promise)) {
      refuseLateInsert(synchronous, 'enqueueMany');
      return Promise.all(rows.map((row) => Promise.resolve(row))).then(insert);
    }
    return insert(rows as AttemptInsertParams[]);
  }

  /**
   * The Scheduler's inserts, one attempt per tick (its token, due at the tick), in a transaction
   * of the driver's: SQLite's worker connection waits out another writer's lock at BEGIN, where a
   * lone INSERT failed at once. `due` is asked once the connection is at hand: a wait for one
   * longer than the retention would enqueue a tick another worker ran and pruned.
   */
  async enqueueTicks(
    schedule: ScheduleDefinition,
    ticks: readonly Date[],
    due: (tick: Date) => boolean,
  ): Promise<number> {
    const rows = await Promise.all(
      ticks.map((tick) => Promise.resolve(this.#prepare(...tickEnqueue(schedule, tick)))),
    );
    const inserted = await this.#runtime.driver.transaction(async (connection) => {
      const kept = rows.filter((_, i) => due(ticks[i]!));
      if (kept.length > 0) await this.#insert(this.#runtime.executor(connection), kept, 'schedule');
      return kept;
    });
    this.#wakeLocal(inserted);
    return inserted.length;
  }

  /**
   * Checks at construction what each tick of `schedule` will enqueue (the method is a known
   * target's, the arguments JSON can carry, the options valid), so a wrong schedule fails at
   * `new AsyncTask` rather than at its first tick. An async encryptor's errors wait for the tick.
   */
  checkSchedule(schedule: ScheduleDefinition): void {
    const row = this.#prepare(...tickEnqueue(schedule, new Date(0)));
    if (row instanceof Promise) row.catch(() => {});
  }

  /** Calls `wake` with the queue of each local enqueue due now, until the returned stop. */
  onLocalEnqueue(wake: (queue: string) => void): () => void {
    this.#localWakers.add(wake);
    return () => this.#localWakers.delete(wake);
  }

  /**
   * Calls `observer` with the results of each insert made through this instance, right after its
   * statement returned (the caller's transaction may still be open, and may roll back), until the
   * returned stop. An observer that throws is ignored.
   */
  onEnqueued(observer: (results: readonly AttemptInsertResult[]) => void): () => void {
    this.#observers.add(observer);
    return () => this.#observers.delete(observer);
  }

  /** The INSERT, inside the telemetry's producer span when there is telemetry. */
  #insert(
    executor: Executor,
    rows: readonly AttemptInsertParams[],
    operation: EnqueueOperation,
  ): Promise<AttemptInsertResult[]> {
    const telemetry = this.#runtime.telemetry;
    if (telemetry === null) return executor.attemptInsertMany(rows);
    return telemetry.enqueue(rows, operation, (traceContext) =>
      executor.attemptInsertMany(
        traceContext === null ? rows : rows.map((row) => ({ ...row, traceContext })),
      ),
    );
  }

  #observe(results: readonly AttemptInsertResult[]): void {
    for (const observer of this.#observers) {
      try {
        observer(results);
      } catch {
        // a test helper's bookkeeping is never worth a failed enqueue
      }
    }
  }

  #prepare(
    method: unknown,
    args: unknown,
    options: EnqueueOptions<string>,
    where: string,
  ): AttemptInsertParams | Promise<AttemptInsertParams> {
    const ref = this.#resolve(method, where);
    const given: unknown = options;
    if (typeof given !== 'object' || given === null) {
      throw new ConfigError(
        `${where}: options must be an object such as { queue: 'mail' }, or left out; got ${given === null ? 'null' : `a ${typeof given}`}`,
      );
    }
    checkEnqueueOptionNames(given, where);
    const { idempotenceToken, scheduledAt, maxAttempts, queue, priority, concurrencyKey, replace } =
      options;
    if (idempotenceToken !== undefined) checkToken(idempotenceToken, where);
    checkReplace(replace, idempotenceToken, where);
    if (
      scheduledAt !== undefined &&
      (!(scheduledAt instanceof Date) || Number.isNaN(scheduledAt.getTime()))
    ) {
      throw new ConfigError(`${where}: scheduledAt must be a valid Date`);
    }
    const encryptors = this.#runtime.encryptors;
    const encryptorName =
      options.encryptor === undefined ? this.#defaults.encryptor : options.encryptor;
    const encryptor = encryptorName === null ? null : encryptors.get(encryptorName);
    if (encryptor === undefined) {
      throw new ConfigError(
        `${where}: encryptor '${String(encryptorName)}' is not one of \`encryptors\` (${[...encryptors.keys()].join(', ') || 'none configured'})`,
      );
    }
    const plain = encodeArgsAt(args, where, encryptor !== null);
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
      concurrencyKey: null as string | null,
      replacePending: replace === 'pending',
    };
    if (concurrencyKey !== undefined) {
      row.concurrencyKey = checkConcurrencyKey(
        concurrencyKey,
        row.queue,
        this.#runtime.flows,
        where,
      );
    }
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
    if (this.#runtime.targets.get(ref.target)?.methods.get(ref.methodName) !== ref) {
      throw new UnknownTargetError(
        `${where}: target '${ref.target}' is not in this AsyncTask's \`targets\`; add it so workers can perform ${ref.target}.${ref.methodName}`,
      );
    }
    return ref;
  }

  /**
   * The caller's transaction may not have committed yet, so the wake is deferred a turn; a worker
   * that finds nothing looks again a few times after it (LocalWakes).
   */
  #wakeLocal(rows: readonly AttemptInsertParams[]): void {
    if (this.#localWakers.size === 0) return;
    const now = Date.now();
    const due = rows.filter((row) => row.scheduledAt === null || row.scheduledAt.getTime() <= now);
    const queues = new Set(due.map((row) => row.queue));
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
}

/**
 * `encodeArgs`, with the SerializationError saying which call (and batch item) it came from. For
 * an encrypted task the path names only identifier keys and indexes: a key that is not one may
 * be data (a map keyed by card number) that must not reach an error in clear.
 */
function encodeArgsAt(args: unknown, where: string, encrypted: boolean): string | null {
  try {
    return encodeArgs(args, { redactKeys: encrypted });
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
