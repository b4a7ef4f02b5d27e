import type { AttemptRecord } from '../core/attempt.js';
import { CancelledError } from '../core/errors.js';
import type { LeaseRef } from '../seam/executor.js';

/**
 * A claimed attempt this process holds the lease of. Its AbortSignal is made on first use: most
 * handlers never look at `ctx.signal`, and an AbortController per task is a measurable share of a
 * no-op task's cost.
 */
export class HeldAttempt implements LeaseRef {
  readonly id: string;
  readonly numAttempts: number;
  readonly record: AttemptRecord;
  #controller: AbortController | undefined;
  #aborted = false;
  #reason: unknown;
  /** Links of the one HeldList this attempt may be in. */
  listPrev: HeldAttempt | undefined = undefined;
  listNext: HeldAttempt | undefined = undefined;
  listed = false;

  constructor(record: AttemptRecord) {
    this.record = record;
    this.id = record.id;
    this.numAttempts = record.numAttempts;
  }

  get aborted(): boolean {
    return this.#aborted;
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

/**
 * A set of held attempts linked through their own fields: the lease keeper adds and removes one
 * per task, and a Set of thousands churned its hash table at that rate (its backing stores were
 * promoted by the garbage collector). An attempt is in at most one list.
 */
export class HeldList implements HeldAttempts {
  #first: HeldAttempt | undefined;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  has(held: HeldAttempt): boolean {
    return held.listed;
  }

  add(held: HeldAttempt): void {
    if (held.listed) return;
    held.listed = true;
    held.listPrev = undefined;
    held.listNext = this.#first;
    if (this.#first) this.#first.listPrev = held;
    this.#first = held;
    this.#size += 1;
  }

  delete(held: HeldAttempt): void {
    if (!held.listed) return;
    held.listed = false;
    const { listPrev, listNext } = held;
    if (listPrev) listPrev.listNext = listNext;
    else this.#first = listNext;
    if (listNext) listNext.listPrev = listPrev;
    held.listPrev = undefined;
    held.listNext = undefined;
    this.#size -= 1;
  }

  /** Copy it (`[...list]`) before adding or deleting while going through it. */
  *[Symbol.iterator](): Iterator<HeldAttempt> {
    for (let held = this.#first; held; held = held.listNext) yield held;
  }
}
