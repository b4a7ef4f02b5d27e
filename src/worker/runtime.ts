import type { Attempt } from '../core/attempt.js';
import type { EncryptedTaskErrors } from '../core/error-text.js';
import type { Encryptor } from '../core/encryptor.js';
import type { QueueFlow } from '../core/flow.js';
import type { Logger } from '../core/logger.js';
import type { Retention } from '../core/retention.js';
import type { ScheduleDefinition } from '../core/schedule.js';
import type { Backoff } from '../core/retry-policy.js';
import type { TargetDefinition } from '../core/target.js';
import type { Driver, TableName } from '../seam/driver.js';
import type { Executor } from '../seam/executor.js';
import type { SqlConnection } from '../seam/sql-connection.js';
import type { TelemetryHooks } from '../seam/telemetry.js';

/** Called when a handler throws (the gem's `handle_perform_error`). Its own errors are logged, never rethrown. */
export type ErrorHook = (error: unknown, attempt: Attempt) => void | Promise<void>;

/** What performing tasks needs from an `AsyncTask`, without its public surface. */
export interface Runtime {
  readonly driver: Driver<never, unknown>;
  readonly table: TableName;
  readonly targets: ReadonlyMap<string, TargetDefinition>;
  readonly encryptors: ReadonlyMap<string, Encryptor>;
  readonly defaultBackoff: Backoff;
  readonly onError: ErrorHook | undefined;
  /** What `last_error` keeps of an encrypted task's failure. */
  readonly encryptedTaskErrors: EncryptedTaskErrors;
  readonly logger: Logger;
  /** How long finished attempts are kept; null when nothing is ever pruned (no Pruner needed). */
  readonly retention: Retention | null;
  /** Flow control per queue (the `queues` option), enforced by the claim; empty: none. */
  readonly flows: ReadonlyMap<string, QueueFlow>;
  /** Recurring tasks, enqueued by every worker's Scheduler and by `runDue`. */
  readonly schedules: readonly ScheduleDefinition[];
  /** The queue of an enqueue that names none, nor does its method (`defaults.queue`). */
  readonly defaultQueue: string;
  /** Spans and metrics (async-task/opentelemetry); null when not configured. */
  readonly telemetry: TelemetryHooks | null;
  /**
   * Inserts one attempt per tick of `schedule` (each with its tick's token), on the pool, but
   * for ticks `due` refuses once the connection is at hand; returns how many it inserted.
   */
  enqueueTicks(
    schedule: ScheduleDefinition,
    ticks: readonly Date[],
    due: (tick: Date) => boolean,
  ): Promise<number>;
  executor(connection: SqlConnection): Executor;
}
