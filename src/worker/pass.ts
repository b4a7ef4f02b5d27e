import { describeError, errorClassName } from '../core/errors.js';
import { checkOptionNames, integerOption, optionNames } from '../core/options.js';
import { checkQueue, checkTimeout } from '../core/target.js';
import { Pipeline } from './pipeline.js';
import type { Runtime } from './runtime.js';
import { rescuedOutcome } from './rescuer.js';
import { Scheduler } from './scheduler.js';
import { writtenOutcome } from '../seam/telemetry.js';

const integer = integerOption('runDue');

export interface RunDueOptions {
  /** Most attempts to perform in this pass. @defaultValue 1000 */
  readonly limit?: number;
  /** Handlers running at once. @defaultValue 10 */
  readonly concurrency?: number;
  /** Only these queues. @defaultValue every queue */
  readonly queues?: readonly string[];
  /** Lease taken on each claimed attempt, extended every third of it while the handler runs. @defaultValue 30000 */
  readonly leaseMs?: number;
  /**
   * PostgreSQL: make each claim wait for its WAL flush. By default a claim does not (it is most
   * of an idle pickup's latency), so a database server crash can forget a claim made in its last
   * moments, and that task may start again while its first run is still going (the first run's
   * outcome is then fenced off). Set it where a task must never run twice at once even then.
   * @defaultValue false
   */
  readonly durableClaims?: boolean;
  /**
   * Longest one run may take unless its method or target says otherwise (`timeoutMs`): past it,
   * `ctx.signal` aborts and the run counts as a failed attempt, so a hung handler cannot keep the
   * pass from resolving. @defaultValue 10 × `leaseMs` (5 minutes)
   */
  readonly taskTimeoutMs?: number;
}

const runDueOptionNames = optionNames<RunDueOptions>({
  limit: true,
  concurrency: true,
  queues: true,
  leaseMs: true,
  durableClaims: true,
  taskTimeoutMs: true,
});

export interface RunDueResult {
  /** Attempts whose expired lease was handed back before the pass. */
  readonly rescued: number;
  readonly claimed: number;
  readonly succeeded: number;
  readonly retried: number;
  readonly failed: number;
  /** Runs stopped by `tasks.cancel()`, recorded expired. */
  readonly cancelled: number;
  /**
   * Runs whose outcome was not recorded because their lease ran out while they ran (the attempt
   * was rescued and will run again, or has already); counted in none of the three above.
   */
  readonly lost: number;
}

/**
 * One bounded pass. Each attempt runs at most once per pass: after the first claim, nothing
 * scheduled later than the database's clock at that claim is taken, and a retry is always
 * scheduled at least a moment after it.
 */
export async function runPass(
  runtime: Runtime,
  options: RunDueOptions,
  lockedBy: string,
): Promise<RunDueResult> {
  checkOptionNames(options, runDueOptionNames, 'runDue');
  const limit = integer(options.limit, 1000, 'limit', 1, 1_000_000);
  const concurrency = integer(options.concurrency, 10, 'concurrency', 1, 1000);
  const leaseMs = integer(options.leaseMs, 30_000, 'leaseMs', 1, 86_400_000);
  const queues = options.queues ? options.queues.map((q) => checkQueue(q, 'runDue')) : null;
  const durableClaims = options.durableClaims ?? false;
  const taskTimeoutMs = checkTimeout(
    options.taskTimeoutMs ?? Math.min(leaseMs * 10, 7 * 86_400_000),
    'runDue: taskTimeoutMs',
  );

  const rescuedRecords = await runtime.driver.run((connection) =>
    runtime.executor(connection).attemptRescueExpired(1000),
  );
  for (const record of rescuedRecords) runtime.telemetry?.recorded(record, rescuedOutcome(record));
  const rescued = rescuedRecords.length;
  if (runtime.schedules.length > 0) {
    // Serverless and cron callers have no Scheduler running: each pass enqueues the ticks due.
    await new Scheduler(runtime, (error) => {
      throw error;
    }).enqueueDue();
  }
  const counts = { claimed: 0, succeeded: 0, retried: 0, failed: 0, cancelled: 0, lost: 0 };
  const pipeline = new Pipeline(runtime, {
    lockedBy,
    concurrency,
    sizing: {
      claimSize: (held) => {
        const room = Math.min(concurrency - held, limit - counts.claimed);
        // Claim in chunks (at least half the slots) rather than one row per freed slot.
        return room > 0 && (held === 0 || room * 2 >= concurrency) ? room : 0;
      },
      finished: () => {},
    },
    queues,
    queueLimits: new Map(),
    leaseMs,
    heartbeatMs: Math.max(1, Math.floor(leaseMs / 3)),
    taskTimeoutMs,
    durableClaims,
    completer: { flushMs: 50, maxBatch: 500 },
    hooks: {
      claimed: (count) => {
        counts.claimed += count;
      },
      // Counted once the outcome is written: a fenced-off one did not happen, as far as the
      // table is concerned.
      recorded: (record, result, written) => {
        counts[written ? result.outcome : 'lost'] += 1;
        if (written) runtime.telemetry?.recorded(record, writtenOutcome(result.outcome));
      },
      ran: (record, result) => {
        if (result.outcome === 'succeeded') return;
        runtime.logger.info(
          {
            attemptId: record.id,
            target: record.target,
            method: record.methodName,
            outcome: result.outcome,
            error:
              record.encryptor === null
                ? describeError(result.error)
                : errorClassName(result.error),
          },
          `attempt ${result.outcome}`,
        );
      },
    },
  });
  try {
    await pipeline.pass();
  } finally {
    await pipeline.drain(null);
  }
  return { rescued, ...counts };
}
