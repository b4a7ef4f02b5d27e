import { randomUUID } from 'node:crypto';
import type { AsyncTask } from '../async-task.js';
import { toAttempt, type AttemptRecord } from '../core/attempt.js';
import { decodeArgs } from '../core/codec.js';
import type { Encryptor } from '../core/encryptor.js';
import { AsyncTaskError, ConfigError } from '../core/errors.js';
import { checkOptionNames, integerOption, optionNames } from '../core/options.js';
import { checkQueue } from '../core/target.js';
import { Pipeline } from '../worker/pipeline.js';
import type { RunResult } from '../worker/runner.js';
import type { Runtime } from '../worker/runtime.js';

const integer = integerOption('drain');

/** Lease a drain takes on what it claims; kept alive while a handler runs. */
const leaseMs = 30_000;

export interface DrainOptions {
  /** Only these queues. @defaultValue every queue */
  readonly queues?: readonly string[];
  /**
   * Most runs one drain performs. A drain that reaches it with work still due stops (after the
   * runs under way end, their outcomes written) and throws a {@link DrainLimitError}: a task that
   * enqueues another forever cannot hang the test. @defaultValue 1000
   */
  readonly maxRuns?: number;
}

/** How one run of one attempt ended in a drain. */
const drainOptionNames = optionNames<DrainOptions>({ queues: true, maxRuns: true });

export interface DrainRun {
  readonly attemptId: string;
  readonly target: string;
  readonly method: string;
  readonly queue: string;
  /** Which run of the attempt this was: 1 for the first. */
  readonly numAttempts: number;
  /** The decoded arguments; `undefined` for an attempt stored with an encryptor. */
  readonly args: unknown;
  /**
   * `retried`: it failed and is pending again, due after its backoff. `lost`: its lease ran out
   * while it ran, so its outcome was not recorded (it will run again).
   */
  readonly outcome: 'succeeded' | 'retried' | 'failed' | 'cancelled' | 'lost';
  /** What the handler threw (or the reason the run failed); `undefined` when it succeeded. */
  readonly error: unknown;
}

export interface DrainResult {
  /** Every run, in the order they ran. */
  readonly runs: readonly DrainRun[];
  readonly succeeded: number;
  readonly retried: number;
  readonly failed: number;
  /** Runs a cancel request ended (`tasks.cancel()` while they ran): the attempt is `expired`. */
  readonly cancelled: number;
  /** Attempts whose expired lease was handed back before the drain. */
  readonly rescued: number;
}

/** A drain reached its `maxRuns` with work still due (a task that keeps enqueueing more). */
export class DrainLimitError extends AsyncTaskError {
  declare readonly code: 'DRAIN_LIMIT';
  /** What the drain did before it stopped. */
  readonly result: DrainResult;

  constructor(message: string, result: DrainResult) {
    super('DRAIN_LIMIT', message);
    this.result = result;
  }
}

/**
 * Performs everything due now, in this process, and what those runs enqueue, until nothing due
 * is left, through the same claim → run → complete pipeline as `runDue` and the worker. One run
 * at a time, in claim order (priority, then due time, then id). Each attempt runs at most once
 * per drain: a retry stays pending for its backoff (see `advanceTime`). Every outcome is written
 * before it returns.
 *
 * @throws DrainLimitError when `maxRuns` runs were made and work is still due
 * @example
 * await db.transaction((tx) => tasks.enqueue(tx, Mailer.send, { to: 'a@example.com' }));
 * const { runs } = await drain(tasks);
 * expect(runs.map((run) => run.outcome)).toEqual(['succeeded']);
 */
export async function drain<Tx, HandlerTx, Encryptors extends Record<string, Encryptor>>(
  tasks: AsyncTask<Tx, HandlerTx, Encryptors>,
  options: DrainOptions = {},
): Promise<DrainResult> {
  const given: unknown = options;
  if (typeof given !== 'object' || given === null) {
    throw new ConfigError('drain: options must be an object such as { maxRuns: 100 }, or left out');
  }
  checkOptionNames(options, drainOptionNames, 'drain');
  const maxRuns = integer(options.maxRuns, 1000, 'maxRuns', 1, 1_000_000);
  const queues = options.queues ? options.queues.map((q) => checkQueue(q, 'drain')) : null;
  await tasks.ensureSchema();
  return drainRuntime(tasks.runtime, queues, maxRuns);
}

/** @internal `drain` on a runtime: also what `runInline` performs with. */
export async function drainRuntime(
  runtime: Runtime,
  queues: readonly string[] | null,
  maxRuns: number,
): Promise<DrainResult> {
  const lockedBy = `async-task/testing:drain:${randomUUID().slice(0, 8)}`;
  const rescued = (
    await runtime.driver.run((connection) =>
      runtime.executor(connection).attemptRescueExpired(1000),
    )
  ).length;
  const ran: { record: AttemptRecord; result: RunResult }[] = [];
  const lost = new Set<AttemptRecord>();
  const recordedAs = new Map<AttemptRecord, RunResult>();
  let claimed = 0;
  const pipeline = new Pipeline(runtime, {
    lockedBy,
    concurrency: 1,
    // One at a time, so each run is the first due attempt at the moment it starts.
    sizing: {
      claimSize: (held) => (held === 0 ? Math.min(1, maxRuns - claimed) : 0),
      finished() {},
    },
    queues,
    queueLimits: new Map(),
    leaseMs,
    heartbeatMs: leaseMs / 3,
    taskTimeoutMs: leaseMs * 10,
    durableClaims: false,
    completer: { flushMs: 50 },
    followEnqueues: true,
    hooks: {
      claimed: (count) => {
        claimed += count;
      },
      ran: (record, result) => {
        ran.push({ record, result });
      },
      // The outcome as written: a cancel request that landed while the handler ran turns it
      // `cancelled` there, whatever the run returned.
      recorded: (record, result, written) => {
        if (!written) lost.add(record);
        else recordedAs.set(record, result);
      },
    },
  });
  let limited = false;
  try {
    for (;;) {
      const before = claimed;
      await pipeline.pass();
      // A pass claims until a claim comes back empty; one that ran nothing saw nothing due.
      if (claimed === before) break;
      if (claimed >= maxRuns) {
        limited = await anythingDue(runtime, lockedBy, queues);
        break;
      }
    }
  } finally {
    await pipeline.drain(null);
  }
  const runs = ran.map(({ record, result }) =>
    drainRun(record, recordedAs.get(record) ?? result, lost.has(record)),
  );
  const result: DrainResult = {
    runs,
    succeeded: runs.filter((run) => run.outcome === 'succeeded').length,
    retried: runs.filter((run) => run.outcome === 'retried').length,
    failed: runs.filter((run) => run.outcome === 'failed').length,
    cancelled: runs.filter((run) => run.outcome === 'cancelled').length,
    rescued,
  };
  if (limited) {
    throw new DrainLimitError(
      `drain: stopped after maxRuns (${maxRuns}) runs with attempts still due; a task may be enqueueing another forever (last runs: ${runs
        .slice(-3)
        .map((run) => `${run.target}.${run.method}`)
        .join(', ')}). Raise maxRuns if the work is finite.`,
      result,
    );
  }
  return result;
}

/** Whether an attempt is due that this drain did not run: claimed and handed straight back. */
async function anythingDue(
  runtime: Runtime,
  lockedBy: string,
  queues: readonly string[] | null,
): Promise<boolean> {
  return runtime.driver.run(async (connection) => {
    const executor = runtime.executor(connection);
    const { records } = await executor.attemptClaim({
      lockedBy,
      limit: 1,
      leaseMs,
      queues,
      horizon: null,
      durable: false,
    });
    if (records.length === 0) return false;
    await executor.attemptReleaseMany(lockedBy, records);
    return true;
  });
}

function drainRun(record: AttemptRecord, result: RunResult, lost: boolean): DrainRun {
  return {
    attemptId: record.id,
    target: record.target,
    method: record.methodName,
    queue: record.queue,
    numAttempts: record.numAttempts,
    args: toAttempt(record, decodeArgs).args,
    outcome: lost ? 'lost' : result.outcome,
    error: result.error,
  };
}
