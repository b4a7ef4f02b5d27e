import type { Attempt } from '../core/attempt.js';
import { decodeArgs } from '../core/codec.js';
import { storedErrorText } from '../core/error-text.js';
import {
  CancelledError,
  PermanentError,
  TaskTimeoutError,
  UnknownTargetError,
  describeError,
  errorClassName,
} from '../core/errors.js';
import { defaultBackoff, delayFor } from '../core/retry-policy.js';
import type { MethodRef, TaskContext } from '../core/target.js';
import type { AttemptCompletion } from '../seam/executor.js';
import { decryptArgs } from './decrypt-args.js';
import type { HeldAttempt } from './held-attempt.js';
import { RunContext, completion } from './run-context.js';
import type { Runtime } from './runtime.js';
import { isThenable } from '../core/thenable.js';
import { returned, settle, unwatch, watch, type Settled, Watch } from './settle.js';

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
 * Where a run's result goes, once: when the run ends, or at its time limit while an asynchronous
 * handler is still going.
 */
export type RunSink = (held: HeldAttempt, result: RunResult) => void;

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
    completion = { ...completion, startedAtMs: Math.round(endedAtMs - durationMs), endedAtMs };
  }
  return { outcome, completion, error, durationMs };
}

/**
 * Performs one claimed attempt, outside any transaction, and hands how it ended to `sink`, once.
 * Never throws and always reports: every failure (unknown target, undecryptable args, the
 * handler's error, a handler or hook past its time limit, a throwing backoff, a value that cannot
 * describe itself) becomes an outcome.
 */
export function performAttempt(
  runtime: Runtime,
  held: HeldAttempt,
  lockedBy: string,
  defaultTimeoutMs: number,
  sink: RunSink,
): void {
  const { telemetry } = runtime;
  if (telemetry === null) {
    void performGuarded(runtime, held, lockedBy, defaultTimeoutMs, sink);
    return;
  }
  // The span ends with the run's result, so a run past its limit must end where it is awaited:
  // it waits through settle(), and the result comes back here.
  void telemetry
    .run(
      held.record,
      // Without a sink no deadline reports the run: it never resolves to null.
      () => performGuarded(runtime, held, lockedBy, defaultTimeoutMs, null) as Promise<RunResult>,
    )
    .then((ended) => sink(held, ended));
}

/** With a sink, reports the run to it unless its deadline did; resolves to what the run ended with. */
async function performGuarded(
  runtime: Runtime,
  held: HeldAttempt,
  lockedBy: string,
  defaultTimeoutMs: number,
  sink: RunSink | null,
): Promise<RunResult | null> {
  const started = performance.now();
  held.started = started;
  let ended: RunResult | null;
  try {
    ended = await perform(runtime, held, lockedBy, defaultTimeoutMs, started, sink);
  } catch (error) {
    ended = unexpected(runtime, held, error, started);
  }
  // null: the run's deadline reported it.
  if (ended !== null) sink?.(held, ended);
  return ended;
}

/**
 * Not expected (everything is guarded); if it happens the attempt must still leave `running`:
 * retry it in a second, and say so.
 */
function unexpected(runtime: Runtime, held: HeldAttempt, error: unknown, started: number) {
  safeLog(
    runtime,
    'error',
    { attemptId: held.id, error: errorClassName(error) },
    'run failed unexpectedly; retrying it',
  );
  return result('retried', completion(held, 'pending', 1000, describeError(error)), error, started);
}

/** null: the run's deadline reported it to `sink` first. */
async function perform(
  runtime: Runtime,
  held: HeldAttempt,
  lockedBy: string,
  defaultTimeoutMs: number,
  started: number,
  sink: RunSink | null,
): Promise<RunResult | null> {
  const record = held.record;
  const target = runtime.targets.get(record.target);
  const ref = target?.methods.get(record.methodName);
  if (!ref) {
    const error = new UnknownTargetError(
      target
        ? `${record.target}.${record.methodName}: target ${record.target} has no method ${JSON.stringify(record.methodName)} in this deployment (it has ${[...target.methods.keys()].slice(0, 10).join(', ')}); deploy the code that has it, then retry the attempt`
        : `${record.target}.${record.methodName} is not a method of any target given to this AsyncTask; add the target to \`targets\` and retry the attempt`,
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
  let settled: Settled;
  if (sink === null) {
    const call = settle(() => (ref.fn as Handler).call(ref.owner, args, ctx), timeoutMs);
    settled = call instanceof Promise ? await call : call;
    if (settled.timedOut) return timedOut({ runtime, ref, held, ctx, timeoutMs, started });
  } else {
    // The promise an async handler returns is awaited as it is: wrapping it to race a timer
    // (a promise and five closures per run) cost a no-op task a fifth of its CPU. The time limit
    // is kept by a deadline that reports the run's failure to `sink` if it passes first.
    let deadline: RunDeadline | undefined;
    try {
      const value = (ref.fn as Handler).call(ref.owner, args, ctx);
      if (isThenable(value)) {
        deadline = new RunDeadline(runtime, ref, held, ctx, timeoutMs, started, sink);
        watch(deadline, timeoutMs);
        await value;
      }
      settled = returned;
    } catch (error) {
      settled = { error, threw: true, timedOut: false };
    }
    if (deadline && !unwatch(deadline)) return null;
  }
  ctx.handlerEnded = true;
  if (ctx.transactionState === 'unused') ctx.transactionState = 'ended';
  const finishing = ctx.finishProgress();
  if (finishing) await finishing;
  // Whatever the handler did after its signal aborted, a cancelled run ends expired (and is no
  // error of the handler's: no onError, no retry), unless its ctx.transaction committed first.
  if (held.cancelled && ctx.transactionState !== 'committed') return cancelled(held, started);
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
    return failedWithHook(runtime, ref, held, error, ctx, timeoutMs, started);
  }
  if (ctx.transactionState === 'committed') return result('succeeded', null, undefined, started);
  return result('succeeded', completion(held, 'succeeded', 0, null), undefined, started);
}

/** A run of a claimed attempt, from the start of its handler. */
type Run = Pick<RunDeadline, 'runtime' | 'ref' | 'held' | 'ctx' | 'timeoutMs' | 'started'>;

/** The time limit of a run whose handler returned a promise: at it, the run is reported failed. */
class RunDeadline extends Watch {
  readonly deadline: number;
  readonly runtime: Runtime;
  readonly ref: MethodRef;
  readonly held: HeldAttempt;
  readonly ctx: RunContext;
  readonly timeoutMs: number;
  readonly started: number;
  readonly #sink: RunSink;

  constructor(
    runtime: Runtime,
    ref: MethodRef,
    held: HeldAttempt,
    ctx: RunContext,
    timeoutMs: number,
    started: number,
    sink: RunSink,
  ) {
    super();
    this.runtime = runtime;
    this.ref = ref;
    this.held = held;
    this.ctx = ctx;
    this.timeoutMs = timeoutMs;
    this.started = started;
    this.#sink = sink;
    this.deadline = performance.now() + timeoutMs;
  }

  expire(): void {
    void timedOut(this).then(
      (failed) => this.#sink(this.held, failed),
      (error: unknown) =>
        this.#sink(this.held, unexpected(this.runtime, this.held, error, this.started)),
    );
  }
}

/**
 * How a run past its time limit ended. The handler goes on in the background, told to stop; its
 * slot is free and its outcome decided. ctx.transaction refuses to start from now on (and a
 * write already under way is fenced off once this failure lands).
 */
async function timedOut(run: Run): Promise<RunResult> {
  const { runtime, ref, held, ctx, timeoutMs, started } = run;
  const finishing = ctx.finishProgress();
  if (finishing) await finishing;
  if (held.cancelled && ctx.transactionState !== 'committed') return cancelled(held, started);
  const record = held.record;
  const error = new TaskTimeoutError(
    `attempt ${record.id} (${record.target}.${record.methodName}) ran longer than its time limit of ${timeoutMs} ms; its ctx.signal was aborted`,
  );
  if (ctx.transactionState !== 'open') ctx.transactionState = 'closed';
  held.abort(error);
  return failedWithHook(runtime, ref, held, error, ctx, timeoutMs, started);
}

/**
 * The failure is decided before the `onError` hook runs (nothing the hook does changes it), so a
 * worker stopping while the hook hangs still records it (`held.ended`).
 */
async function failedWithHook(
  runtime: Runtime,
  ref: MethodRef,
  held: HeldAttempt,
  error: unknown,
  ctx: RunContext,
  timeoutMs: number,
  started: number,
): Promise<RunResult> {
  const failed = await failure(runtime, ref, held, error, started);
  if (!runtime.onError) return failed;
  held.ended = failed;
  await callErrorHook(runtime, error, ctx, timeoutMs);
  return failed;
}

/** A cancelled run still going at stop()'s time limit: recorded as run, not handed back. */
export function abandonedCancelled(held: HeldAttempt): RunResult {
  return cancelled(held, held.started);
}

/** A run whose outcome a cancel request turned `expired` as it was written: cancelled. */
export function cancelledInstead(result: RunResult): RunResult {
  const id = result.completion?.id ?? '';
  const error = new CancelledError(id, `attempt ${id} was cancelled`);
  return { ...result, outcome: 'cancelled', error };
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
