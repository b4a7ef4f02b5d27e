import { describeError, errorClassName } from '../core/errors.js';
import { checkQueue, checkTimeout } from '../core/target.js';
import type { AttemptRecord } from '../core/attempt.js';
import { Completer } from './completer.js';
import { HeldAttempt } from './held-attempt.js';
import { LeaseKeeper } from './lease-keeper.js';
import { performAttempt } from './runner.js';
import type { Runtime } from './runtime.js';
import { integerOption } from '../core/options.js';

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

export interface RunDueResult {
  /** Attempts whose expired lease was handed back before the pass. */
  readonly rescued: number;
  readonly claimed: number;
  readonly succeeded: number;
  readonly retried: number;
  readonly failed: number;
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
  const limit = integer(options.limit, 1000, 'limit', 1, 1_000_000);
  const concurrency = integer(options.concurrency, 10, 'concurrency', 1, 1000);
  const leaseMs = integer(options.leaseMs, 30_000, 'leaseMs', 1, 86_400_000);
  const queues = options.queues ? options.queues.map((q) => checkQueue(q, 'runDue')) : null;
  const durable = options.durableClaims ?? false;
  const taskTimeoutMs = checkTimeout(
    options.taskTimeoutMs ?? Math.min(leaseMs * 10, 7 * 86_400_000),
    'runDue: taskTimeoutMs',
  );
  const run = <T>(fn: (e: ReturnType<Runtime['executor']>) => Promise<T>): Promise<T> =>
    runtime.driver.run((connection) => fn(runtime.executor(connection)));

  const rescued = (await run((e) => e.attemptRescueExpired(1000))).length;
  const keeper = new LeaseKeeper(runtime, lockedBy, {
    leaseMs,
    heartbeatMs: Math.max(1, Math.floor(leaseMs / 3)),
  });
  const completer = new Completer(runtime, lockedBy, { flushMs: 50, maxBatch: 500 });
  const counts = { claimed: 0, succeeded: 0, retried: 0, failed: 0, lost: 0 };
  const inflight = new Set<Promise<void>>();
  let horizon: Date | null = null;
  const performed = new Set<string>();
  let exhausted = false;

  const start = (record: AttemptRecord): void => {
    const held = new HeldAttempt(record);
    keeper.hold(held);
    const task = performAttempt(runtime, held, lockedBy, taskTimeoutMs).then((result) => {
      keeper.drop(held);
      // Counted once the outcome is written: a fenced-off one did not happen, as far as the
      // table is concerned.
      if (result.completion) {
        completer.add(result.completion, (written) => {
          counts[written ? result.outcome : 'lost'] += 1;
        });
      } else {
        counts[result.outcome] += 1;
      }
      if (result.outcome !== 'succeeded') {
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
      }
    });
    inflight.add(task);
    void task.finally(() => inflight.delete(task));
  };

  try {
    for (;;) {
      const room = Math.min(concurrency - inflight.size, limit - counts.claimed);
      // Claim in chunks (at least half the slots) rather than one row per freed slot.
      if (!exhausted && room > 0 && (inflight.size === 0 || room * 2 >= concurrency)) {
        const { records, now } = await run((e) =>
          e.attemptClaim({ lockedBy, limit: room, leaseMs, queues, horizon, durable }),
        );
        horizon ??= now;
        if (records.length < room) exhausted = true;
        // The horizon keeps retries out of this pass, but a clock that ticks in milliseconds
        // (SQLite) can put a retry on the horizon itself: hand such a row back, uncounted.
        const again = records.filter((record) => performed.has(record.id));
        if (again.length > 0) {
          exhausted = true;
          await run((e) => e.attemptReleaseMany(lockedBy, again));
        }
        for (const record of records) {
          if (performed.has(record.id)) continue;
          performed.add(record.id);
          counts.claimed += 1;
          start(record);
        }
      }
      if (inflight.size === 0) break;
      await Promise.race(inflight);
    }
  } finally {
    await Promise.allSettled(inflight);
    await keeper.close();
    await completer.flush();
  }
  return { rescued, ...counts };
}
