import { toAttempt, type Attempt, type AttemptRecord } from '../core/attempt.js';
import { decodeArgs } from '../core/codec.js';
import { storedErrorText } from '../core/error-text.js';
import {
  CancelledError,
  ConfigError,
  DecryptionError,
  LeaseLostError,
  PermanentError,
  TaskTimeoutError,
  UnknownTargetError,
  describeError,
  errorClassName,
} from '../core/errors.js';
import { defaultBackoff, delayFor } from '../core/retry-policy.js';
import type { MethodRef, TaskContext } from '../core/target.js';
import type { AttemptCompletion } from '../seam/executor.js';
import type { HeldAttempt } from './held-attempt.js';
import { ProgressReporter } from './progress-reporter.js';
import type { Runtime } from './runtime.js';
import { settle } from './settle.js';

/** `cancelled`: `tasks.cancel()` asked it to stop; the attempt is recorded expired. */
export type RunOutcome = 'succeeded' | 'retried' | 'failed' | 'cancelled';

export interface RunResult {
  readonly outcome: RunOutcome;
  /** What the completer must write; null when `ctx.transaction` already wrote the success. */
  readonly completion: AttemptCompletion | null;
  readonly error: unknown;
  readonly durationMs: number;
}

type Handler = (args: unknown, ctx: TaskContext<unknown>) => unknown;

/**
 * What a handler gets besides its arguments. A class rather than an object literal: the worker
 * makes one per task, and `attempt` and `signal` are only built when a handler reads them.
 */
class RunContext implements TaskContext<unknown> {
  readonly #runtime: Runtime;
  readonly #held: HeldAttempt;
  readonly #lockedBy: string;
  #attempt: Attempt | undefined;
  /** Made on the first `progress` call: most handlers never report any. */
  #progress: ProgressReporter | undefined;
  /** `closed`: the run timed out and its outcome is decided; the handler may write nothing more. */
  transactionState: 'unused' | 'open' | 'committed' | 'closed' = 'unused';

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
    if (this.transactionState !== 'unused') {
      throw new ConfigError(
        'ctx.transaction was already called for this run; do all of the handler’s writes in one ctx.transaction',
      );
    }
    this.transactionState = 'open';
    // Before the completion, which ends the run and with it any later progress write.
    await this.finishProgress();
    const { telemetry } = this.#runtime;
    const result = await (telemetry === null
      ? this.#transaction(fn)
      : telemetry.transaction(this.#held.record, () => this.#transaction(fn)));
    this.transactionState = 'committed';
    return result;
  }

  /** The handler's writes and this run's success, in one transaction of the driver's. */
  #transaction<T>(fn: (tx: unknown) => Promise<T>): Promise<T> {
    const held = this.#held;
    return this.#runtime.driver.transaction(async (connection, tx) => {
      const value = await fn(tx);
      const written = await this.#runtime
        .executor(connection)
        .attemptCompleteMany(this.#lockedBy, [completion(held, 'succeeded', 0, null)]);
      if (written.length === 0) {
        throw new LeaseLostError(
          `attempt ${held.id} is no longer leased to this worker (its lease ran out); the transaction was rolled back and the attempt will run again`,
        );
      }
      // A cancel request committed before the completion turns it into `expired` (see
      // attemptCompleteMany): the handler's writes must not commit with it. Read back under the
      // row lock the completion holds, so no request can land between the two.
      const current = await this.#runtime.executor(connection).attemptGet(held.id);
      if (current?.status === 'expired') {
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

function completion(
  held: HeldAttempt,
  status: AttemptCompletion['status'],
  delayMs: number,
  error: string | null,
): AttemptCompletion {
  return { id: held.id, numAttempts: held.numAttempts, status, delayMs, error };
}

function result(
  outcome: RunOutcome,
  completion: AttemptCompletion | null,
  error: unknown,
  started: number,
): RunResult {
  const durationMs = performance.now() - started;
  // A run that did not succeed goes into the run history with its times, by this process's clock.
  const endedAtMs = completion?.status === 'succeeded' ? 0 : Date.now();
  if (completion && endedAtMs > 0) {
    completion = { ...completion, startedAtMs: endedAtMs - durationMs, endedAtMs };
  }
  return { outcome, completion, error, durationMs };
}

/**
 * Performs one claimed attempt, outside any transaction, and says how it ended. Never throws and
 * always settles: every failure (unknown target, undecryptable args, the handler's error, a
 * handler or hook past its time limit, a throwing backoff, a value that cannot describe itself)
 * becomes an outcome.
 */
export function performAttempt(
  runtime: Runtime,
  held: HeldAttempt,
  lockedBy: string,
  defaultTimeoutMs: number,
): Promise<RunResult> {
  const { telemetry } = runtime;
  // Without telemetry no closure is made: this is once per task.
  return telemetry === null
    ? performGuarded(runtime, held, lockedBy, defaultTimeoutMs)
    : telemetry.run(held.record, () => performGuarded(runtime, held, lockedBy, defaultTimeoutMs));
}

async function performGuarded(
  runtime: Runtime,
  held: HeldAttempt,
  lockedBy: string,
  defaultTimeoutMs: number,
): Promise<RunResult> {
  const started = performance.now();
  try {
    return await perform(runtime, held, lockedBy, defaultTimeoutMs, started);
  } catch (error) {
    // Not expected (everything above is guarded); if it happens the attempt must still leave
    // `running`: retry it in a second, and say so.
    safeLog(
      runtime,
      'error',
      { attemptId: held.id, error: errorClassName(error) },
      'run failed unexpectedly; retrying it',
    );
    const text = describeError(error);
    return result('retried', completion(held, 'pending', 1000, text), error, started);
  }
}

async function perform(
  runtime: Runtime,
  held: HeldAttempt,
  lockedBy: string,
  defaultTimeoutMs: number,
  started: number,
): Promise<RunResult> {
  const record = held.record;
  const ref = runtime.targets.get(record.target)?.methods.get(record.methodName);
  if (!ref) {
    const error = new UnknownTargetError(
      `${record.target}.${record.methodName} is not a method of any target given to this AsyncTask; add the target to \`targets\` and retry the attempt`,
    );
    return result('failed', completion(held, 'failed', 0, describeError(error)), error, started);
  }
  const timeoutMs = ref.options.timeoutMs ?? defaultTimeoutMs;

  let args: unknown;
  try {
    // Plain arguments decode synchronously: no extra turn of the event loop per task.
    args =
      record.encryptor === null || record.methodArgs === null
        ? decodeArgs(record.methodArgs)
        : await decryptArgs(runtime, record, timeoutMs);
  } catch (error) {
    return result('failed', completion(held, 'failed', 0, describeError(error)), error, started);
  }

  // Cancelled while it waited for a slot: it never starts.
  if (held.cancelled) return cancelled(held, started);
  const ctx = new RunContext(runtime, held, lockedBy);
  const call = settle(() => (ref.fn as Handler).call(ref.owner, args, ctx), timeoutMs);
  const settled = call instanceof Promise ? await call : call;
  const finishing = ctx.finishProgress();
  if (finishing) await finishing;
  // Whatever the handler did after its signal aborted, a cancelled run ends expired (and is no
  // error of the handler's: no onError, no retry), unless its ctx.transaction committed first.
  if (held.cancelled && ctx.transactionState !== 'committed') return cancelled(held, started);
  if (settled.timedOut) {
    // The handler goes on in the background, told to stop; its slot is free and its outcome
    // decided. ctx.transaction refuses to start from now on (and a write already under way is
    // fenced off once this failure lands).
    const error = new TaskTimeoutError(
      `attempt ${record.id} (${record.target}.${record.methodName}) ran longer than its time limit of ${timeoutMs} ms; its ctx.signal was aborted`,
    );
    if (ctx.transactionState !== 'open') ctx.transactionState = 'closed';
    held.abort(error);
    await callErrorHook(runtime, error, ctx, timeoutMs);
    return failure(runtime, ref, held, error, started);
  }
  if (settled.threw) {
    const error = settled.error;
    if (ctx.transactionState === 'committed') {
      safeLog(
        runtime,
        'warn',
        {
          attemptId: record.id,
          target: record.target,
          method: record.methodName,
          error: record.encryptor === null ? describeError(error) : errorClassName(error),
        },
        'handler threw after ctx.transaction committed; the attempt stays succeeded',
      );
      return result('succeeded', null, undefined, started);
    }
    await callErrorHook(runtime, error, ctx, timeoutMs);
    return failure(runtime, ref, held, error, started);
  }
  if (ctx.transactionState === 'committed') return result('succeeded', null, undefined, started);
  return result('succeeded', completion(held, 'succeeded', 0, null), undefined, started);
}

function cancelled(held: HeldAttempt, started: number): RunResult {
  const error = new CancelledError(held.id, `attempt ${held.id} was cancelled`);
  return result('cancelled', completion(held, 'expired', 0, 'Cancelled'), error, started);
}

async function failure(
  runtime: Runtime,
  ref: MethodRef,
  held: HeldAttempt,
  error: unknown,
  started: number,
): Promise<RunResult> {
  const record = held.record;
  const text = await storedErrorText(
    error,
    record.encryptor === null
      ? null
      : { name: record.encryptor, codec: runtime.encryptors.get(record.encryptor) },
    runtime.encryptedTaskErrors,
  );
  if (isPermanent(error) || held.numAttempts >= record.maxAttempts) {
    return result('failed', completion(held, 'failed', 0, text), error, started);
  }
  let delayMs: number;
  try {
    delayMs = delayFor(ref.options.backoff ?? runtime.defaultBackoff, held.numAttempts);
  } catch (backoffError) {
    safeLog(
      runtime,
      'error',
      {
        attemptId: record.id,
        target: record.target,
        method: record.methodName,
        error: describeError(backoffError),
      },
      'backoff threw; using the default backoff for this retry',
    );
    delayMs = delayFor(defaultBackoff, held.numAttempts);
  }
  return result('retried', completion(held, 'pending', delayMs, text), error, started);
}

/** `instanceof` on what a handler threw runs its Proxy traps, which may throw. */
function isPermanent(error: unknown): boolean {
  try {
    return error instanceof PermanentError;
  } catch {
    return false;
  }
}

/**
 * Arguments stored with an encryptor (NULL, "no arguments", never reaches here), the encryptor
 * bounded by `timeoutMs`; every failure is a DecryptionError that names the attempt.
 */
export async function decryptArgs(
  runtime: Runtime,
  record: AttemptRecord,
  timeoutMs: number,
): Promise<unknown> {
  const encryptor = runtime.encryptors.get(record.encryptor!);
  if (!encryptor) {
    throw new DecryptionError(
      `attempt ${record.id} was encrypted with encryptor '${record.encryptor}', which this AsyncTask does not have; add it to \`encryptors\``,
    );
  }
  let text: unknown;
  const settled = await settle(() => {
    const value = encryptor.decrypt(record.methodArgs!);
    return Promise.resolve(value).then((plain) => (text = plain));
  }, timeoutMs);
  if (settled.threw || settled.timedOut) {
    if (settled.error instanceof DecryptionError) throw settled.error;
    throw new DecryptionError(
      settled.timedOut
        ? `encryptor '${record.encryptor}' did not decrypt the arguments of attempt ${record.id} within ${timeoutMs} ms`
        : `encryptor '${record.encryptor}' could not decrypt the arguments of attempt ${record.id}`,
      settled.timedOut ? undefined : { cause: settled.error },
    );
  }
  if (typeof text !== 'string') {
    throw new DecryptionError(
      `encryptor '${record.encryptor}' returned ${typeof text} instead of a string for attempt ${record.id}`,
    );
  }
  return decodeArgs(text);
}

/** The `onError` hook, bounded like the handler; whatever it throws is logged and dropped. */
async function callErrorHook(
  runtime: Runtime,
  error: unknown,
  ctx: RunContext,
  timeoutMs: number,
): Promise<void> {
  const hook = runtime.onError;
  if (!hook) return;
  let attempt: Attempt;
  try {
    attempt = ctx.attempt;
  } catch {
    return;
  }
  const call = settle(() => hook(error, attempt), timeoutMs);
  const settled = call instanceof Promise ? await call : call;
  if (settled.threw || settled.timedOut) {
    safeLog(
      runtime,
      'error',
      {
        attemptId: attempt.id,
        error: settled.timedOut
          ? `still running after ${timeoutMs} ms`
          : errorClassName(settled.error),
      },
      settled.timedOut
        ? 'onError hook ran past the time limit; carrying on without it'
        : 'onError hook threw; ignoring it and carrying on',
    );
  }
}

/** The user's logger may throw too; a log line is never worth a stopped worker. */
export function safeLog(
  runtime: Runtime,
  level: 'error' | 'warn' | 'info',
  fields: Record<string, unknown>,
  message: string,
): void {
  try {
    runtime.logger[level](fields, message);
  } catch {
    // nowhere left to report it
  }
}
