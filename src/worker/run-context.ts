// The context a handler gets (`ctx`), and the completion of a held attempt that both the run and
// `ctx.transaction` write.
import { toAttempt, type Attempt } from '../core/attempt.js';
import { decodeArgs } from '../core/codec.js';
import { CancelledError, ConfigError, LeaseLostError, TaskTimeoutError } from '../core/errors.js';
import type { TaskContext } from '../core/target.js';
import type { AttemptCompletion } from '../seam/executor.js';
import type { HeldAttempt } from './held-attempt.js';
import { ProgressReporter } from './progress-reporter.js';
import type { Runtime } from './runtime.js';

/**
 * What a handler gets besides its arguments. A class rather than an object literal: the worker
 * makes one per task, and `attempt` and `signal` are only built when a handler reads them.
 */
export class RunContext implements TaskContext<unknown> {
  readonly #runtime: Runtime;
  readonly #held: HeldAttempt;
  readonly #lockedBy: string;
  #attempt: Attempt | undefined;
  /** Made on the first `progress` call: most handlers never report any. */
  #progress: ProgressReporter | undefined;
  /**
   * `closed`: the run timed out and its outcome is decided; the handler may write nothing more.
   * `ended`: the handler returned or threw without calling it; a late call must not commit.
   */
  transactionState: 'unused' | 'open' | 'committed' | 'closed' | 'ended' = 'unused';
  /** The handler has returned or thrown (its outcome is decided without what is still open). */
  handlerEnded = false;

  constructor(runtime: Runtime, held: HeldAttempt, lockedBy: string) {
    this.#runtime = runtime;
    this.#held = held;
    this.#lockedBy = lockedBy;
  }

  get attempt(): Attempt {
    return (this.#attempt ??= toAttempt(this.#held.record, decodeArgs));
  }

  get signal(): AbortSignal {
    return this.#held.signal;
  }

  progress(fraction: number, message?: string): void {
    this.#progress ??= new ProgressReporter(this.#runtime, this.#held, this.#lockedBy);
    this.#progress.report(fraction, message);
  }

  /** Writes the last reported progress while the run still holds its lease; undefined if none. */
  finishProgress(): Promise<void> | undefined {
    return this.#progress?.finish();
  }

  async transaction<T>(fn: (tx: unknown) => Promise<T>): Promise<T> {
    if (this.transactionState === 'closed') {
      throw new TaskTimeoutError(
        `attempt ${this.#held.id} ran past its time limit and was counted as failed; its ctx.transaction was not started`,
      );
    }
    if (this.transactionState === 'ended') {
      // Its outcome may not be written yet: the success below would still pass the fence.
      throw new ConfigError(
        `ctx.transaction was called after the handler of attempt ${this.#held.id} had returned or thrown, and its outcome is decided; await ctx.transaction inside the handler`,
      );
    }
    if (this.transactionState !== 'unused') {
      throw new ConfigError(
        'ctx.transaction was already called for this run; do all of the handler’s writes in one ctx.transaction',
      );
    }
    this.transactionState = 'open';
    // What was reported before lands first; what the body reports lands inside the transaction,
    // before its completion (which ends the run and with it any later progress write).
    await this.#progress?.flush();
    const { telemetry } = this.#runtime;
    let result: T;
    try {
      result = await (telemetry === null
        ? this.#transaction(fn)
        : telemetry.transaction(this.#held.record, () => this.#transaction(fn)));
    } catch (error) {
      this.#held.completedInTransaction = false;
      throw error;
    }
    this.transactionState = 'committed';
    return result;
  }

  /** The handler's writes and this run's success, in one transaction of the driver's. */
  #transaction<T>(fn: (tx: unknown) => Promise<T>): Promise<T> {
    const held = this.#held;
    return this.#runtime.driver.transaction(async (connection, tx) => {
      const value = await fn(tx);
      const executor = this.#runtime.executor(connection);
      await this.#progress?.finishWith((params) => executor.attemptSetProgress(params));
      // Past its time limit the run is failed, whether or not that failure is written yet: on
      // SQLite it cannot be while this transaction holds the one connection, so the success
      // below committed first and the failure was then fenced off.
      refuseTimedOut(held);
      held.completedInTransaction = true;
      const written = await this.#runtime
        .executor(connection)
        .attemptCompleteMany(this.#lockedBy, [completion(held, 'succeeded', 0, null)]);
      if (written.length === 0) {
        refuseTimedOut(held);
        if (this.handlerEnded) {
          throw new ConfigError(
            `ctx.transaction of attempt ${held.id} was not awaited: the handler returned or threw while it ran, and its outcome was recorded without it; the transaction was rolled back. Await ctx.transaction inside the handler`,
          );
        }
        throw new LeaseLostError(
          `attempt ${held.id} is no longer leased to this worker (its lease ran out); the transaction was rolled back and the attempt will run again`,
        );
      }
      // A cancel request committed before the completion turns it into `expired`, and the
      // completion says so (attemptCompleteMany's `cancelled`): the handler's writes must not
      // commit with it.
      refuseTimedOut(held);
      if (written.cancelled !== undefined && written.cancelled.length > 0) {
        const error = new CancelledError(
          held.id,
          `attempt ${held.id} was cancelled; its ctx.transaction was rolled back`,
        );
        held.abort(error);
        throw error;
      }
      return value;
    });
  }
}

/** Throws the run's TaskTimeoutError once its time limit has passed: the transaction rolls back. */
function refuseTimedOut(held: HeldAttempt): void {
  if (held.reason instanceof TaskTimeoutError) throw held.reason;
}

/** What the completer writes for `held`. */
export function completion(
  held: HeldAttempt,
  status: AttemptCompletion['status'],
  delayMs: number,
  error: string | null,
): AttemptCompletion {
  return { id: held.id, numAttempts: held.numAttempts, status, delayMs, error };
}
