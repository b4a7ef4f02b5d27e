import { toAttempt, type Attempt, type AttemptRecord } from '../core/attempt.js';
import { decodeArgs } from '../core/codec.js';
import {
  AsyncTaskError,
  DecryptionError,
  LeaseLostError,
  PermanentError,
  UnknownTargetError,
  describeError,
} from '../core/errors.js';
import { delayFor } from '../core/retry-policy.js';
import type { MethodRef, TaskContext } from '../core/target.js';
import type { AttemptCompletion } from '../driver/executor.js';
import type { HeldAttempt } from './held-attempt.js';
import type { Runtime } from './runtime.js';

export type RunOutcome = 'succeeded' | 'retried' | 'failed';

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
  transactionState: 'unused' | 'open' | 'committed' = 'unused';

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

  async transaction<T>(fn: (tx: unknown) => Promise<T>): Promise<T> {
    if (this.transactionState !== 'unused') {
      throw new AsyncTaskError(
        'CONFIG',
        'ctx.transaction was already called for this run; do all of the handler’s writes in one ctx.transaction',
      );
    }
    this.transactionState = 'open';
    const held = this.#held;
    const result = await this.#runtime.driver.transaction(async (connection, tx) => {
      const value = await fn(tx);
      const written = await this.#runtime
        .executor(connection)
        .attemptCompleteMany(this.#lockedBy, [completion(held, 'succeeded', 0, null)]);
      if (written.length === 0) {
        throw new LeaseLostError(
          `attempt ${held.id} is no longer leased to this worker (its lease ran out); the transaction was rolled back and the attempt will run again`,
        );
      }
      return value;
    });
    this.transactionState = 'committed';
    return result;
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
  return { outcome, completion, error, durationMs: performance.now() - started };
}

/**
 * Performs one claimed attempt, outside any transaction, and says how it ended. Never throws:
 * every failure (unknown target, undecryptable args, the handler's error) becomes an outcome.
 */
export async function performAttempt(
  runtime: Runtime,
  held: HeldAttempt,
  lockedBy: string,
): Promise<RunResult> {
  const record = held.record;
  const started = performance.now();
  const ref = runtime.targets.get(record.target)?.methods.get(record.methodName);
  if (!ref) {
    const error = new UnknownTargetError(
      `${record.target}.${record.methodName} is not a method of any target given to this AsyncTask; add the target to \`targets\` and retry the attempt`,
    );
    return result('failed', completion(held, 'failed', 0, describeError(error)), error, started);
  }

  let args: unknown;
  try {
    // Plain arguments decode synchronously: no extra turn of the event loop per task.
    args =
      record.encryptor === null || record.methodArgs === null
        ? decodeArgs(record.methodArgs)
        : await decrypt(runtime, record);
  } catch (error) {
    return result('failed', completion(held, 'failed', 0, describeError(error)), error, started);
  }

  const ctx = new RunContext(runtime, held, lockedBy);
  try {
    await (ref.fn as Handler).call(ref.owner, args, ctx);
  } catch (error) {
    if (ctx.transactionState === 'committed') {
      runtime.logger.warn(
        {
          attemptId: record.id,
          target: record.target,
          method: record.methodName,
          error: describeError(error),
        },
        'handler threw after ctx.transaction committed; the attempt stays succeeded',
      );
      return result('succeeded', null, undefined, started);
    }
    await callErrorHook(runtime, error, ctx.attempt);
    return failure(runtime, ref, held, error, started);
  }
  if (ctx.transactionState === 'committed') return result('succeeded', null, undefined, started);
  return result('succeeded', completion(held, 'succeeded', 0, null), undefined, started);
}

function failure(
  runtime: Runtime,
  ref: MethodRef,
  held: HeldAttempt,
  error: unknown,
  started: number,
): RunResult {
  const text = describeError(error);
  if (error instanceof PermanentError || held.numAttempts >= held.record.maxAttempts) {
    return result('failed', completion(held, 'failed', 0, text), error, started);
  }
  const delayMs = delayFor(ref.options.backoff ?? runtime.defaultBackoff, held.numAttempts);
  return result('retried', completion(held, 'pending', delayMs, text), error, started);
}

/** Arguments stored with an encryptor (NULL, "no arguments", never reaches here). */
async function decrypt(runtime: Runtime, record: AttemptRecord): Promise<unknown> {
  const encryptor = runtime.encryptors.get(record.encryptor!);
  if (!encryptor) {
    throw new DecryptionError(
      `attempt ${record.id} was encrypted with encryptor '${record.encryptor}', which this AsyncTask does not have; add it to \`encryptors\``,
    );
  }
  let text: string;
  try {
    text = await encryptor.decrypt(record.methodArgs!);
  } catch (error) {
    if (error instanceof DecryptionError) throw error;
    throw new DecryptionError(
      `encryptor '${record.encryptor}' could not decrypt the arguments of attempt ${record.id}`,
      { cause: error },
    );
  }
  return decodeArgs(text);
}

async function callErrorHook(runtime: Runtime, error: unknown, attempt: Attempt): Promise<void> {
  if (!runtime.onError) return;
  try {
    await runtime.onError(error, attempt);
  } catch (hookError) {
    runtime.logger.error(
      { attemptId: attempt.id, error: describeError(hookError) },
      'onError hook threw; ignoring it and carrying on',
    );
  }
}
