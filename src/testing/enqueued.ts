import type { AsyncTask } from '../async-task.js';
import {
  toAttempt,
  type Attempt,
  type AttemptRecord,
  type AttemptStatus,
} from '../core/attempt.js';
import { decodeArgs } from '../core/codec.js';
import type { Encryptor } from '../core/encryptor.js';
import { ConfigError, UnknownTargetError } from '../core/errors.js';
import { checkOptionNames, optionNames } from '../core/options.js';
import { methodRef, type MethodRef, type TaskMethod } from '../core/target.js';
import { decryptArgs } from '../worker/decrypt-args.js';
import type { Runtime } from '../worker/runtime.js';
import type { Uninferred } from '../core/uninferred.js';
import { mismatches } from './partial-match.js';

/** Attempts of one method, as `enqueued` and `expectEnqueued` return them. */
export interface EnqueuedAttempt<Args> extends Omit<Attempt, 'args'> {
  /** The arguments, decoded (and decrypted, for an attempt stored with an encryptor). */
  readonly args: Args;
}

/** A partial value: objects may leave keys out at any depth; arrays match element by element. */
export type PartialArgs<T> = T extends readonly unknown[]
  ? { readonly [K in keyof T]: PartialArgs<T[K]> }
  : T extends object
    ? { readonly [K in keyof T]?: PartialArgs<T[K]> }
    : T;

export interface EnqueuedFilter<Args> {
  /**
   * Matches attempts whose arguments contain these: every key given must be there with a
   * matching value, at any depth (other keys are ignored); arrays must have the same length and
   * match element by element; everything else is compared with `Object.is`.
   */
  readonly args?: PartialArgs<Args>;
  /** Matches attempts for which it returns true (queue, priority, scheduledAt, …). */
  readonly where?: (attempt: EnqueuedAttempt<Args>) => boolean;
}

// A filter that does not fit the method is an error at the filter: only the method decides Args.
export type { Uninferred } from '../core/uninferred.js';

/** Most attempts of one method read back; more fail the call rather than hide some. */
const maxAttempts = 10_000;
const page = 1000;

/**
 * The pending attempts of `method` (enqueued, or retried and waiting for their backoff) that
 * match, oldest first, with their arguments decoded: what a worker would perform next. Reads
 * committed data through the driver's pool.
 *
 * @example
 * const [attempt] = await enqueued(tasks, Mailer.send, { args: { to: 'a@example.com' } });
 * expect(attempt.args.subject).toBe('Welcome');
 */
export async function enqueued<Args, Tx, HandlerTx, Encryptors extends Record<string, Encryptor>>(
  tasks: AsyncTask<Tx, HandlerTx, Encryptors>,
  method: TaskMethod<Args>,
  filter: EnqueuedFilter<Uninferred<Args>> = {},
): Promise<EnqueuedAttempt<Args>[]> {
  const ref = resolve(tasks.runtime, method, 'enqueued');
  checkFilter(filter, 'enqueued');
  const attempts = await attemptsOf<Args>(tasks.runtime, ref, 'pending');
  return attempts.filter((attempt) => matches(attempt, filter));
}

/** @internal The method's reference, refused unless it is of one of the AsyncTask's targets. */
export function resolve(runtime: Runtime, method: unknown, where: string): MethodRef {
  const ref = methodRef(method);
  if (!ref) {
    throw new UnknownTargetError(
      `${where}: the method is not part of a target; pass a method of an object made with defineTarget (e.g. Mailer.send)`,
    );
  }
  if (runtime.targets.get(ref.target)?.methods.get(ref.methodName) !== ref) {
    throw new UnknownTargetError(
      `${where}: target '${ref.target}' is not in this AsyncTask's \`targets\``,
    );
  }
  return ref;
}

/** @internal */
const filterNames = optionNames<EnqueuedFilter<unknown>>({ args: true, where: true });

/**
 * Refuses a filter that is no object or holds a key it does not know: a misspelt `arg` would
 * match every attempt, and the assertion built on it could never fail.
 */
export function checkFilter(filter: unknown, where: string, names = filterNames): void {
  if (typeof filter !== 'object' || filter === null) {
    throw new ConfigError(`${where}: the filter must be an object such as { args: { … } }`);
  }
  checkOptionNames(filter, names, where);
  const predicate = (filter as { where?: unknown }).where;
  if (predicate !== undefined && typeof predicate !== 'function') {
    throw new ConfigError(`${where}: where must be a function (attempt) => boolean`);
  }
}

/** @internal */
export function matches<Args>(
  attempt: EnqueuedAttempt<Args>,
  filter: EnqueuedFilter<Args>,
): boolean {
  if ('args' in filter && mismatches(filter.args, attempt.args).length > 0) return false;
  return filter.where === undefined || filter.where(attempt);
}

/** @internal Every attempt of one method with this status (null: any), oldest first, args decrypted. */
export async function attemptsOf<Args>(
  runtime: Runtime,
  ref: MethodRef,
  status: AttemptStatus | null,
): Promise<EnqueuedAttempt<Args>[]> {
  const records: AttemptRecord[] = [];
  for (let beforeId: string | null = null; ;) {
    const batch: AttemptRecord[] = await runtime.driver.run((connection) =>
      runtime.executor(connection).attemptList({
        status,
        target: ref.target,
        methodName: ref.methodName,
        queue: null,
        beforeId,
        limit: page,
      }),
    );
    records.push(...batch);
    if (batch.length < page) break;
    if (records.length >= maxAttempts) {
      throw new ConfigError(
        `${ref.target}.${ref.methodName} has more than ${maxAttempts} ${status ?? ''} attempts; enqueued() and expectEnqueued() read them all, which is meant for a test's handful`,
      );
    }
    beforeId = batch[batch.length - 1]!.id;
  }
  records.reverse();
  return Promise.all(records.map((record) => decoded<Args>(runtime, record)));
}

/** An encryptor that takes longer than this to decrypt one attempt's arguments fails the read. */
const decryptTimeoutMs = 30_000;

/** The attempt with its arguments in clear: a test asked for them explicitly. */
async function decoded<Args>(
  runtime: Runtime,
  record: AttemptRecord,
): Promise<EnqueuedAttempt<Args>> {
  const attempt = toAttempt(record, decodeArgs);
  if (record.encryptor === null || record.methodArgs === null) {
    return attempt as EnqueuedAttempt<Args>;
  }
  return { ...attempt, args: (await decryptArgs(runtime, record, decryptTimeoutMs)) as Args };
}
