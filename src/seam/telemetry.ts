import type { AttemptRecord } from '../core/attempt.js';
import { ConfigError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { AttemptInsertParams, AttemptInsertResult, AttemptStatsRow } from './executor.js';

/** How a run ended, as far as telemetry cares (the worker's RunResult has this shape). */
export interface TelemetryRun {
  /** `cancelled`: tasks.cancel() stopped it; the table records it `expired`. */
  readonly outcome: 'succeeded' | 'retried' | 'failed' | 'cancelled';
  readonly error: unknown;
  readonly durationMs: number;
}

/** An outcome written to the table: by a run, the rescuer or `expire`/`fail`. */
export type TelemetryOutcome = 'succeeded' | 'retried' | 'failed' | 'expired';

/** The outcome a run's result writes: a cancelled run is recorded `expired`. */
export function writtenOutcome(outcome: TelemetryRun['outcome']): TelemetryOutcome {
  return outcome === 'cancelled' ? 'expired' : outcome;
}

/** Which call enqueued: it names the producer span. */
export type EnqueueOperation = 'enqueue' | 'enqueue_many' | 'schedule';

/** Where the queue-depth gauges read their counts: one AsyncTask's `stats()`. */
export interface TelemetrySource {
  /** The table, as `schema.name` or `name`. */
  readonly table: string;
  stats(): Promise<readonly AttemptStatsRow[]>;
  readonly logger: Logger;
}

/**
 * What the core, the facade and the worker call when telemetry is configured (and only then: with
 * none, the hot paths test one null and allocate nothing). async-task/opentelemetry implements
 * it; nothing here names OpenTelemetry. Every hook must not throw on its own account.
 */
export interface TelemetryHooks {
  /**
   * Around one INSERT of `rows`: calls `insert` synchronously (a synchronous client writes inside
   * the caller's transaction), once, with the trace context to store in every row (null: none),
   * and returns what it returns.
   */
  enqueue(
    rows: readonly AttemptInsertParams[],
    operation: EnqueueOperation,
    insert: (traceContext: string | null) => Promise<AttemptInsertResult[]>,
  ): Promise<AttemptInsertResult[]>;
  /** Around one run of a claimed attempt: calls `perform` synchronously, once. */
  run<R extends TelemetryRun>(record: AttemptRecord, perform: () => Promise<R>): Promise<R>;
  /** Around a handler's `ctx.transaction` (inside `run`'s context). */
  transaction<T>(record: AttemptRecord, fn: () => Promise<T>): Promise<T>;
  /** An outcome was written for `record` (fenced-off runs are not reported). */
  recorded(record: AttemptRecord, outcome: TelemetryOutcome): void;
  /** An AsyncTask made with this telemetry: its `stats()` feed the queue-depth gauges. */
  attach(source: TelemetrySource): void;
}

const hooksKey = Symbol('async-task telemetry');

/**
 * What AsyncTask's `telemetry` option takes: made by `openTelemetry()` from
 * `async-task/opentelemetry`. Opaque; what it holds is internal.
 */
export interface Telemetry {
  readonly [hooksKey]: TelemetryHooks;
}

/** Wraps an implementation of the hooks as the opaque `Telemetry` option. */
export function telemetry(hooks: TelemetryHooks): Telemetry {
  return { [hooksKey]: hooks };
}

/** The hooks of the `telemetry` option; null when none was given. */
export function telemetryHooks(given: unknown, where: string): TelemetryHooks | null {
  if (given === undefined) return null;
  const hooks =
    typeof given === 'object' && given !== null
      ? (given as Partial<Telemetry>)[hooksKey]
      : undefined;
  if (hooks === undefined) {
    throw new ConfigError(
      `${where}: telemetry must be made by openTelemetry() from async-task/opentelemetry, e.g. telemetry: openTelemetry(); leave it out for none`,
    );
  }
  return hooks;
}
