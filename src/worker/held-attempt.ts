import type { AttemptRecord } from '../core/attempt.js';
import { CancelledError } from '../core/errors.js';
import type { LeaseRef } from '../seam/executor.js';
import type { RunResult } from './runner.js';
import { Linked } from './linked-set.js';

/**
 * A claimed attempt this process holds the lease of. Its AbortSignal is made on first use: most
 * handlers never look at `ctx.signal`, and an AbortController per task is a measurable share of a
 * no-op task's cost.
 */
export class HeldAttempt extends Linked<HeldAttempt> implements LeaseRef {
  readonly id: string;
  readonly numAttempts: number;
  readonly record: AttemptRecord;
  /** When its run started (performance.now()); 0 until it does. */
  started = 0;
  /** How its run ended, set while the `onError` hook still runs on its failure. */
  ended: RunResult | undefined;
  /**
   * Its success is written, or being written, by its `ctx.transaction`: a lease found gone from
   * then on was ended by that write, not lost.
   */
  completedInTransaction = false;
  #controller: AbortController | undefined;
  #aborted = false;
  #reason: unknown;

  constructor(record: AttemptRecord) {
    super();
    this.record = record;
    this.id = record.id;
    this.numAttempts = record.numAttempts;
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  /** Why it was aborted (the first reason given), or undefined. */
  get reason(): unknown {
    return this.#reason;
  }

  /** Aborted because `tasks.cancel()` asked (rather than a lost lease, a timeout or shutdown). */
  get cancelled(): boolean {
    return this.#reason instanceof CancelledError;
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}

/** Attempts held, as the lease keeper and the cancel watcher read them. */
export interface HeldAttempts extends Iterable<HeldAttempt> {
  readonly size: number;
}
