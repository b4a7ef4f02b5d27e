import { ConfigError, describeError } from '../core/errors.js';
import { storableText } from '../core/storable-text.js';
import type { AttemptProgressParams } from '../seam/executor.js';
import type { HeldAttempt } from './held-attempt.js';
import type { Runtime } from './runtime.js';

/** The longest progress message kept, in UTF-16 code units; a longer one is cut to it. */
export const progressMessageMaxLength = 500;

/**
 * At most one progress write per run in this many milliseconds. A progress bar refreshed once a
 * second reads as live; a handler looping over a million items costs one row write per second,
 * not a million, and the concurrency of a worker bounds how many runs write at once.
 */
const writeIntervalMs = 1000;

/** The fraction as stored: to a millionth, which PostgreSQL's `real` column keeps exactly. */
export function storedProgress(fraction: number): number {
  return Math.round(fraction * 1e6) / 1e6;
}

interface Reported {
  readonly progress: number;
  readonly message: string | null;
}

/**
 * The `ctx.progress` of one run. `report` only remembers the value, so a handler may call it in
 * a tight loop; a write goes out at once if none went out in the last second, else when the
 * second is up, with the latest value (the values in between are never written). Writes run in
 * the background, on a pool connection, fenced like completion; a failed one is logged (never
 * thrown at the handler) and tried again a second later. `finish` writes the last value before the run's outcome.
 */
export class ProgressReporter {
  readonly #runtime: Runtime;
  readonly #held: HeldAttempt;
  readonly #lockedBy: string;
  /** Reported and not yet written. */
  #unwritten: Reported | undefined;
  #writing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastWriteAt = -Infinity;
  #finished = false;

  constructor(runtime: Runtime, held: HeldAttempt, lockedBy: string) {
    this.#runtime = runtime;
    this.#held = held;
    this.#lockedBy = lockedBy;
  }

  report(fraction: unknown, message: unknown): void {
    const reported = checkedProgress(fraction, message);
    // Once the outcome is being written (or a timed-out handler runs on), progress is over.
    if (this.#finished) return;
    this.#unwritten = reported;
    if (this.#writing || this.#timer) return; // the write under way or the timer takes it
    this.#schedule();
  }

  /** Writes the last unwritten value, if any, and ignores every later report. */
  async finish(): Promise<void> {
    this.#finished = true;
    await this.flush();
  }

  /** Writes what is unwritten now; later reports are written as before. */
  async flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#writing;
    if (this.#unwritten) {
      this.#write();
      await this.#writing;
    }
  }

  /**
   * `finish`, with the last value written by `write` (a statement of ctx.transaction's, before
   * its completion): reports made in the transaction's body land with it.
   */
  async finishWith(write: (params: AttemptProgressParams) => Promise<unknown>): Promise<void> {
    this.#finished = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#writing;
    const value = this.#unwritten;
    if (!value) return;
    this.#unwritten = undefined;
    await write(this.#params(value));
  }

  #params(value: Reported): AttemptProgressParams {
    return {
      id: this.#held.id,
      numAttempts: this.#held.numAttempts,
      lockedBy: this.#lockedBy,
      progress: value.progress,
      message: value.message,
    };
  }

  #schedule(): void {
    const wait = this.#lastWriteAt + writeIntervalMs - performance.now();
    if (wait <= 0) {
      this.#write();
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#write();
    }, wait);
    this.#timer.unref();
  }

  #write(): void {
    const value = this.#unwritten;
    if (!value) return;
    this.#unwritten = undefined;
    this.#lastWriteAt = performance.now();
    const runtime = this.#runtime;
    const params = this.#params(value);
    this.#writing = runtime.driver
      .run((connection) => runtime.executor(connection).attemptSetProgress(params))
      .catch((error: unknown) => {
        // The failed value is tried again a second later unless a newer one replaced it: the
        // last report of a long stretch of work must not be lost to one failed write.
        this.#unwritten ??= value;
        try {
          runtime.logger.warn(
            { attemptId: params.id, error: describeError(error) },
            'could not record progress; trying again in a second',
          );
        } catch {
          // a log line is never worth a failed run
        }
      })
      .finally(() => {
        this.#writing = undefined;
        if (this.#unwritten && !this.#finished) this.#schedule();
      });
  }
}

function checkedProgress(fraction: unknown, message: unknown): Reported {
  if (typeof fraction !== 'number' || !(fraction >= 0 && fraction <= 1)) {
    throw new ConfigError(
      `ctx.progress takes a fraction done from 0 to 1 (e.g. done / total), not ${typeof fraction === 'number' ? String(fraction) : typeof fraction}`,
    );
  }
  if (message !== undefined && typeof message !== 'string') {
    throw new ConfigError(
      `ctx.progress takes an optional message string as its second argument, not ${message === null ? 'null' : typeof message}`,
    );
  }
  return {
    progress: storedProgress(fraction),
    message: message === undefined ? null : storableText(message, progressMessageMaxLength),
  };
}
