import { isThenable } from '../core/thenable.js';
import { Linked, LinkedSet } from './linked-set.js';

/** How a handler's call ended: its value settled, it threw, or its time ran out first. */
export type Settled = {
  readonly error?: unknown;
  readonly threw: boolean;
  readonly timedOut: boolean;
};

export const returned: Settled = { threw: false, timedOut: false };
const timedOut: Settled = { threw: false, timedOut: true };

/** A run waiting on user code, and what to do if its time runs out first. */
export abstract class Watch extends Linked<Watch> {
  abstract readonly deadline: number;
  abstract expire(): void;
}

/**
 * Runs waiting on user code, checked by one timer every 100 ms rather than a timer per run: at tens
 * of thousands of tasks a second, arming and clearing a timer per task is a measurable share of a
 * no-op task's cost. Only runs still waiting are here, so a sweep is short; the timer stops once
 * nothing has waited for ten sweeps.
 */
const watched = new LinkedSet<Watch>();
let sweeper: NodeJS.Timeout | undefined;
const sweepMs = 100;
/**
 * Sweeps in a row with nothing watched since the last, before the timer stops. Runs of fast
 * handlers end between sweeps, so a timer stopped at the first empty sweep was started again
 * every 100 ms in a busy worker, and each restart, a branch that hot code had not run since it
 * was optimized, sent V8 back to compiling it.
 */
const idleSweepsToStop = 10;
let idleSweeps = 0;

/** Calls `waiting.expire()` once its deadline passes (to within 100 ms), unless unwatched first. */
export function watch(waiting: Watch, timeoutMs: number): void {
  watched.add(waiting);
  idleSweeps = 0;
  // Unref'd: a run abandoned at stop() must not keep the process alive for its whole limit.
  // Whoever waits on a run holds the process open by other means (its pool, its server).
  sweeper ??= setInterval(sweep, Math.min(sweepMs, timeoutMs)).unref();
}

/** False when the deadline passed first (`expire()` was called) or it was not watched. */
export function unwatch(waiting: Watch): boolean {
  return watched.delete(waiting);
}

function sweep(): void {
  const now = performance.now();
  // Collected first: an expire() runs user code (abort listeners), which may end other runs.
  const due = [...watched].filter((waiting) => now >= waiting.deadline);
  for (const waiting of due) {
    if (watched.delete(waiting)) waiting.expire();
  }
  if (watched.size > 0 || ++idleSweeps < idleSweepsToStop) return;
  clearInterval(sweeper);
  sweeper = undefined;
}

/** A settle() waiting on a promise: resolves it as timed out at its deadline. */
class TimeLimit extends Watch {
  readonly deadline: number;
  readonly #onExpired: () => void;

  constructor(timeoutMs: number, onExpired: () => void) {
    super();
    this.deadline = performance.now() + timeoutMs;
    this.#onExpired = onExpired;
  }

  expire(): void {
    this.#onExpired();
  }
}

/**
 * Waits for what user code returned, at most `timeoutMs` (to within 100 ms). A synchronous result
 * costs nothing more; a promise that never settles is left behind (its rejection, if any, is
 * swallowed), so the caller always gets an answer.
 */
export function settle(call: () => unknown, timeoutMs: number): Settled | Promise<Settled> {
  let value: unknown;
  try {
    value = call();
    if (!isThenable(value)) return returned;
  } catch (error) {
    return { error, threw: true, timedOut: false };
  }
  const pending = value;
  return new Promise<Settled>((resolve) => {
    let done = false;
    const timeLimit = new TimeLimit(timeoutMs, () => {
      done = true;
      resolve(timedOut);
    });
    const finish = (settled: Settled): void => {
      if (done) return;
      done = true;
      unwatch(timeLimit);
      resolve(settled);
    };
    watch(timeLimit, timeoutMs);
    try {
      pending.then(
        () => finish(returned),
        (error: unknown) => finish({ error, threw: true, timedOut: false }),
      );
    } catch (error) {
      finish({ error, threw: true, timedOut: false });
    }
  });
}

/** Whether `promise` settles within `ms` (null: waits for it, however long). */
export async function settlesWithin(
  promise: Promise<unknown>,
  ms: number | null,
): Promise<boolean> {
  if (ms === null) {
    await promise;
    return true;
  }
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
