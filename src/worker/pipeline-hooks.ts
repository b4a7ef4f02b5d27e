import type { AttemptRecord } from '../core/attempt.js';
import type { RunResult } from './runner.js';

/** Decides how many attempts one claim takes. */
export interface ClaimSizing {
  /** `held`: attempts running plus those claimed and not started (`buffered`). 0: do not claim now. */
  claimSize(held: number, buffered: number): number;
  /** Counts a handler that finished. */
  finished(): void;
  /** Sees what a claim took (before any of it runs). */
  claimed?(records: readonly AttemptRecord[]): void;
}

/** What the pipeline tells its owner. Called synchronously; none may throw. */
export interface PipelineHooks {
  /** A claim took `count` attempts. */
  claimed(count: number, durationMs: number): void;
  /** A run ended and its outcome went to the completer (or was written by `ctx.transaction`). */
  ran?(record: AttemptRecord, result: RunResult): void;
  /**
   * A run's outcome was written, or (`written` false) fenced off because its lease ran out
   * meanwhile. Owners report outcomes here, not at `ran`: a fenced-off run did not happen, as far
   * as the table is concerned, and reporting it would count one attempt twice.
   */
  recorded(record: AttemptRecord, result: RunResult, written: boolean): void;
  /**
   * False when `recorded` would do nothing with this run's outcome once written: the outcome then
   * waits to be written without the run's record, which becomes garbage at once instead of living
   * on until the write (at tens of thousands a second, the most the garbage collector copied).
   * Absent: always told.
   */
  wantsRecorded?(result: RunResult): boolean;
  /** A statement in the background failed; `log`: nobody has logged it yet. */
  error?(error: unknown, during: string, log: boolean): void;
}
