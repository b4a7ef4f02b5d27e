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
  const finish = (
    outcome: RunOutcome,
    completion: AttemptCompletion | null,
    error: unknown = undefined,
  ): RunResult => ({ outcome, completion, error, durationMs: performance.now() - started });
  const lease = { id: record.id, numAttempts: record.numAttempts };

  const ref = runtime.targets.get(record.target)?.methods.get(record.methodName);
  if (!ref) {
    const error = new UnknownTargetError(
      `${record.target}.${record.methodName} is not a method of any target given to this AsyncTask; add the target to \`targets\` and retry the attempt`,
    );
    return finish(
      'failed',
      { ...lease, status: 'failed', delayMs: 0, error: describeError(error) },
      error,
    );
  }

  let args: unknown;
  try {
    args = await decryptAndDecode(runtime, record);
  } catch (error) {
    return finish(
      'failed',
      { ...lease, status: 'failed', delayMs: 0, error: describeError(error) },
      error,
    );
  }

  const tx: { state: 'unused' | 'open' | 'committed' } = { state: 'unused' };
  let attempt: Attempt | undefined;
  // attempt and signal are built on first use: most handlers read neither.
  const ctx: TaskContext<unknown> = {
    get attempt() {
      return (attempt ??= toAttempt(record, decodeArgs));
    },
    get signal() {
      return held.signal;
    },
    transaction: async <T>(fn: (tx: unknown) => Promise<T>): Promise<T> => {
      if (tx.state !== 'unused') {
        throw new AsyncTaskError(
          'CONFIG',
          'ctx.transaction was already called for this run; do all of the handler’s writes in one ctx.transaction',
        );
      }
      tx.state = 'open';
      const result = await runtime.driver.transaction(async (connection, tx) => {
        const value = await fn(tx);
        const written = await runtime
          .executor(connection)
          .attemptCompleteMany(lockedBy, [
            { ...lease, status: 'succeeded', delayMs: 0, error: null },
          ]);
        if (written.length === 0) {
          throw new LeaseLostError(
            `attempt ${record.id} is no longer leased to this worker (its lease ran out); the transaction was rolled back and the attempt will run again`,
          );
        }
        return value;
      });
      tx.state = 'committed';
      return result;
    },
  };

  try {
    await (ref.fn as (args: unknown, ctx: TaskContext<unknown>) => unknown).call(
      ref.owner,
      args,
      ctx,
    );
  } catch (error) {
    if (tx.state === 'committed') {
      runtime.logger.warn(
        {
          attemptId: record.id,
          target: record.target,
          method: record.methodName,
          error: describeError(error),
        },
        'handler threw after ctx.transaction committed; the attempt stays succeeded',
      );
      return finish('succeeded', null);
    }
    await callErrorHook(runtime, error, ctx.attempt);
    return failure(runtime, ref, record, error, finish);
  }
  if (tx.state === 'committed') return finish('succeeded', null);
  return finish('succeeded', { ...lease, status: 'succeeded', delayMs: 0, error: null });
}

function failure(
  runtime: Runtime,
  ref: MethodRef,
  record: AttemptRecord,
  error: unknown,
  finish: (outcome: RunOutcome, completion: AttemptCompletion, error: unknown) => RunResult,
): RunResult {
  const lease = { id: record.id, numAttempts: record.numAttempts };
  const text = describeError(error);
  if (error instanceof PermanentError || record.numAttempts >= record.maxAttempts) {
    return finish('failed', { ...lease, status: 'failed', delayMs: 0, error: text }, error);
  }
  const delayMs = delayFor(ref.options.backoff ?? runtime.defaultBackoff, record.numAttempts);
  return finish('retried', { ...lease, status: 'pending', delayMs, error: text }, error);
}

async function decryptAndDecode(runtime: Runtime, record: AttemptRecord): Promise<unknown> {
  let text = record.methodArgs;
  // NULL is "no arguments" (enqueue stores it without calling the encryptor): nothing to decrypt.
  if (record.encryptor !== null && text !== null) {
    const encryptor = runtime.encryptors.get(record.encryptor);
    if (!encryptor) {
      throw new DecryptionError(
        `attempt ${record.id} was encrypted with encryptor '${record.encryptor}', which this AsyncTask does not have; add it to \`encryptors\``,
      );
    }
    try {
      text = await encryptor.decrypt(text);
    } catch (error) {
      if (error instanceof DecryptionError) throw error;
      throw new DecryptionError(
        `encryptor '${record.encryptor}' could not decrypt the arguments of attempt ${record.id}`,
        { cause: error },
      );
    }
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
