import type { AsyncTask } from '../async-task.js';
import type { Encryptor } from '../core/encryptor.js';
import { ConfigError, shown } from '../core/errors.js';

/** Further back, MySQL's DATETIME (from year 1000) overflows; no backoff or schedule needs it. */
const maxAdvanceMs = 100 * 365 * 86_400_000;

/**
 * The test clock: every pending attempt comes due `ms` milliseconds sooner, as if `ms` had passed,
 * so an attempt scheduled for later and a retry waiting out its backoff can be run now (by
 * `drain`, a `runInline` runner's `idle()`, `runDue` or a worker). Due times are compared with the
 * database's clock, which keeps running: this moves the attempts, not the clock. Only what is
 * pending when it is called moves: an attempt enqueued or retried afterwards is due at its own
 * time. Leases, `createdAt` and `completedAt` are left alone. Returns how many attempts moved.
 *
 * @example
 * await drain(tasks);                 // the handler throws: retried, due in about 1 s
 * await advanceTime(tasks, 60_000);   // more than any backoff so far
 * await drain(tasks);                 // the retry runs
 */
export async function advanceTime<Tx, HandlerTx, Encryptors extends Record<string, Encryptor>>(
  tasks: AsyncTask<Tx, HandlerTx, Encryptors>,
  ms: number,
): Promise<number> {
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > maxAdvanceMs) {
    throw new ConfigError(
      `advanceTime: ms must be a whole number of milliseconds from 0 to ${maxAdvanceMs} (100 years); got ${shown(ms)}`,
    );
  }
  await tasks.ensureSchema();
  const runtime = tasks.runtime;
  return runtime.driver.run((connection) => runtime.executor(connection).attemptShiftScheduled(ms));
}
