import type { Encryptor } from '../core/encryptor.js';
import { checkQueueFlows, type QueueFlowOptions } from '../core/flow.js';
import { ConfigError, shown } from '../core/errors.js';
import type { EncryptedTaskErrors } from '../core/error-text.js';
import { safeLogger, silentLogger, type Logger } from '../core/logger.js';
import { checkOptionNames, optionNames } from '../core/options.js';
import { resolveRetention, type RetentionOptions } from '../core/retention.js';
import {
  checkMaxAttempts,
  defaultBackoff,
  defaultMaxAttempts,
  type Backoff,
} from '../core/retry-policy.js';
import { checkSchedules, type ScheduleOptions } from '../core/schedule.js';
import { parseTableName } from '../core/table-name.js';
import type { Uninferred } from '../core/uninferred.js';
import {
  checkPriority,
  checkQueue,
  targetDefinition,
  type Target,
  type TargetDefinition,
  type AnyTaskMethod,
  type TaskMethod,
} from '../core/target.js';
import type { Driver, TableName } from '../seam/driver.js';
import type { Executor } from '../seam/executor.js';
import type { SqlConnection } from '../seam/sql-connection.js';
import { telemetryHooks, type Telemetry } from '../seam/telemetry.js';
import type { ErrorHook, Runtime } from '../worker/runtime.js';
import type { EnqueueArgs, EnqueueDefaults, EnqueueOptions } from './enqueuer.js';
import { resolveSchemaOwner, type SchemaOwner } from './schema-check.js';

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

/**
 * One recurring task of `schedules`: `args` are checked against `method`'s parameter as in
 * `enqueue` (and may be left out where the method takes none); `options` are `enqueue`'s but for
 * `idempotenceToken` and `scheduledAt`, which each tick sets, and `replace`.
 */
export type Schedule<Args, EncryptorName extends string = string> = Omit<
  ScheduleOptions<
    TaskMethod<Args>,
    EnqueueArgs<Args>,
    Omit<EnqueueOptions<EncryptorName>, 'idempotenceToken' | 'scheduledAt' | 'replace'>
  >,
  'args'
> &
  (undefined extends Args
    ? { readonly args?: EnqueueArgs<Args> }
    : { readonly args: EnqueueArgs<Args> });

/** The encryptor names a schedule may use: those of `encryptors`, which its entries must not widen. */
type EncryptorNameOf<Encryptors> = keyof Uninferred<Encryptors> & string;

export interface AsyncTaskOptions<
  Tx,
  HandlerTx,
  Encryptors extends Record<string, Encryptor>,
  Schedules extends readonly unknown[] = readonly unknown[],
> {
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
  /**
   * Who creates and upgrades the table: `migrate()` (`'managed'`), or your own migration tool
   * (`'external'`), applying the files `async-task migrations` writes. External, `migrate()`,
   * `runDue` and workers only check the table's version; an outdated table is refused with a
   * `SchemaOutdatedError` naming the command that writes the missing files, which
   * `{ external: 'knex', out: 'db/migrations' }` fills in completely.
   *
   * @defaultValue `'managed'`
   * @example
   * new AsyncTask({ driver, targets, schema: { external: 'knex', out: 'db/migrations' } });
   */
  readonly schema?: SchemaOwner;
  /**
   * Traces and metrics: `openTelemetry()` from `async-task/opentelemetry` (which needs the
   * optional peer `@opentelemetry/api`). Enqueues get a producer span whose trace context is
   * stored with the attempt; runs get a consumer span under it. @defaultValue none
   * @example
   * import { openTelemetry } from 'async-task/opentelemetry';
   * new AsyncTask({ driver, targets, telemetry: openTelemetry() });
   */
  readonly telemetry?: Telemetry;
  /**
   * Flow control per queue, enforced in the claim across every worker and host whose AsyncTask
   * sets it (see README, "Flow control"): `concurrency` (running at once in the queue),
   * `keyConcurrency` (running at once per `concurrencyKey`), `fairness: 'key'` (round-robin
   * across keys). Queues left out are claimed as before, at no extra cost. @defaultValue `{}`
   * @example
   * queues: { mail: { concurrency: 5 }, exports: { keyConcurrency: 1, fairness: 'key' } }
   */
  readonly queues?: Readonly<Record<string, QueueFlowOptions>>;
  /**
   * Recurring tasks. Every worker enqueues their ticks (and `runDue` those due when it is
   * called); each tick is one attempt however many workers run, through the idempotence token
   * `schedule:<name>:<tick as ISO 8601>`. Changing or removing a schedule takes effect as the
   * processes running it are deployed. @defaultValue `[]`
   * @example
   * schedules: [{ name: 'nightly-report', cron: '0 3 * * *', timezone: 'Europe/Berlin',
   *   method: Reports.nightly, args: {}, options: { queue: 'reports' } }]
   */
  readonly schedules?: unknown[] extends Schedules
    ? readonly ScheduleOptions<
        AnyTaskMethod,
        unknown,
        Omit<
          EnqueueOptions<EncryptorNameOf<Encryptors>>,
          'idempotenceToken' | 'scheduledAt' | 'replace'
        >
      >[]
    : // `[...]` makes the array literal a tuple, so that each entry gets its own method's `Args`;
      // a bare mapped type does that from TypeScript 5.4 only (as in `enqueueMany`).
      readonly [
        ...{
          readonly [K in keyof Schedules]: Schedule<Schedules[K], EncryptorNameOf<Encryptors>>;
        },
      ];
}

const asyncTaskOptionNames = optionNames<AsyncTaskOptions<unknown, unknown, never>>({
  driver: true,
  targets: true,
  encryptors: true,
  table: true,
  onError: true,
  encryptedTaskErrors: true,
  logger: true,
  defaults: true,
  retention: true,
  schema: true,
  telemetry: true,
  queues: true,
  schedules: true,
});

const defaultsNames = optionNames<AsyncTaskDefaults<string>>({
  maxAttempts: true,
  backoff: true,
  queue: true,
  priority: true,
  encryptor: true,
});

/** `AsyncTaskOptions` once checked, with every default filled in. */
export interface ResolvedOptions<Tx, HandlerTx> {
  readonly driver: Driver<Tx, HandlerTx>;
  readonly table: TableName;
  readonly defaults: EnqueueDefaults;
  /** Complete once the AsyncTask gives it `enqueueTicks` (its enqueuer does the inserts). */
  readonly runtime: Omit<Runtime, 'enqueueTicks'>;
  readonly schemaOwner: SchemaOwner;
}

/**
 * Checks `new AsyncTask`'s options in the order users meet their mistakes (driver, table,
 * targets, encryptors, defaults, hooks), throwing a ConfigError at the first wrong one.
 */
export function resolveOptions<
  Tx,
  HandlerTx,
  Encryptors extends Record<string, Encryptor>,
  Schedules extends readonly unknown[],
>(options: AsyncTaskOptions<Tx, HandlerTx, Encryptors, Schedules>): ResolvedOptions<Tx, HandlerTx> {
  if (!options || typeof options.driver?.connection !== 'function') {
    throw new ConfigError(
      'new AsyncTask: `driver` is required, e.g. pgDriver(pool) from async-task/pg',
    );
  }
  checkOptionNames(options, asyncTaskOptionNames, 'new AsyncTask');
  const driver = options.driver;
  const table = parseTableName(
    options.table ?? 'async_task_attempts',
    driver.dialect.tableNameLimit,
  );
  driver.dialect.checkTable?.(table);
  const targets = resolveTargets(options.targets);
  const encryptors = resolveEncryptors(options.encryptors ?? {});
  const defaults = options.defaults ?? {};
  checkOptionNames(defaults, defaultsNames, 'new AsyncTask: defaults');
  const encryptor = defaults.encryptor ?? null;
  if (encryptor !== null && !encryptors.has(encryptor)) {
    throw new ConfigError(
      `new AsyncTask: defaults.encryptor '${encryptor}' is not one of \`encryptors\``,
    );
  }
  const enqueueDefaults: EnqueueDefaults = {
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
  const dialect = driver.dialect;
  const schedules = checkSchedules(options.schedules);
  const flows = checkQueueFlows(options.queues, 'new AsyncTask');
  const telemetry = telemetryHooks(options.telemetry, 'new AsyncTask');
  const runtime: Omit<Runtime, 'enqueueTicks'> = {
    driver,
    table,
    targets,
    encryptors,
    defaultBackoff: defaults.backoff ?? defaultBackoff,
    onError: options.onError,
    encryptedTaskErrors,
    logger: safeLogger(options.logger ?? silentLogger),
    retention,
    flows,
    schedules,
    defaultQueue: enqueueDefaults.queue,
    telemetry,
    executor: (connection: SqlConnection): Executor => dialect.executor(connection, table),
  };
  const schemaOwner = resolveSchemaOwner(options.schema);
  return { driver, table, defaults: enqueueDefaults, runtime, schemaOwner };
}

function resolveTargets(given: readonly Target[]): Map<string, TargetDefinition> {
  if (!Array.isArray(given)) {
    throw new ConfigError(
      'new AsyncTask: `targets` must be an array of targets made with defineTarget',
    );
  }
  const targets = new Map<string, TargetDefinition>();
  for (const target of given) {
    const definition = targetDefinition(target);
    if (!definition) {
      throw new ConfigError(
        'new AsyncTask: every entry of `targets` must come from defineTarget(name, methods)',
      );
    }
    const existing = targets.get(definition.name);
    if (existing && existing !== definition) {
      throw new ConfigError(
        `new AsyncTask: two different targets are named '${definition.name}'; names must be unique`,
      );
    }
    targets.set(definition.name, definition);
  }
  return targets;
}

function resolveEncryptors(given: Record<string, Encryptor>): Map<string, Encryptor> {
  const encryptors = new Map<string, Encryptor>();
  for (const [name, encryptor] of Object.entries(given)) {
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
  return encryptors;
}
