import { describeError, LeaseLostError } from '../core/errors.js';
import type { HeldAttempt, HeldAttempts } from './held-attempt.js';
import { LinkedSet } from './linked-set.js';
import type { Runtime } from './runtime.js';

/**
 * Extends the leases of held attempts on a timer. An attempt whose lease could not be extended
 * (it ran out and was rescued) is aborted: its outcome would be fenced off anyway.
 */
export class LeaseKeeper {
  readonly #runtime: Runtime;
  readonly #lockedBy: string;
  readonly #leaseMs: number;
  readonly #held = new LinkedSet<HeldAttempt>();
  #timer: NodeJS.Timeout | undefined;
  #beating: Promise<void> | undefined;
  readonly #onError: ((error: unknown) => void) | undefined;

  constructor(
    runtime: Runtime,
    lockedBy: string,
    options: { leaseMs: number; heartbeatMs: number; onError?: (error: unknown) => void },
  ) {
    this.#onError = options.onError;
    this.#runtime = runtime;
    this.#lockedBy = lockedBy;
    this.#leaseMs = options.leaseMs;
    this.#timer = setInterval(() => void this.beat(), options.heartbeatMs);
    this.#timer.unref();
  }

  get size(): number {
    return this.#held.size;
  }

  /** The attempts held now. */
  get held(): HeldAttempts {
    return this.#held;
  }

  /**
   * The heartbeat under way, if any. It extends the leases it listed when it began, some of which
   * may have ended since: a write of those attempts (an outcome, a hand-back) waits for it, or
   * each statement would wait on rows the other locked first (PostgreSQL: "deadlock detected").
   * One that begins later lists none of them: an attempt leaves the keeper before its write.
   */
  get beating(): Promise<void> | undefined {
    return this.#beating;
  }

  hold(held: HeldAttempt): void {
    this.#held.add(held);
  }

  drop(held: HeldAttempt): void {
    this.#held.delete(held);
  }

  async beat(): Promise<void> {
    if (this.#beating || this.#held.size === 0) return;
    // A lost lease is not extended again (another worker holds it now), nor reported again while
    // a handler that ignores its signal goes on.
    const snapshot = [...this.#held].filter((held) => !(held.reason instanceof LeaseLostError));
    if (snapshot.length === 0) return;
    this.#beating = (async () => {
      try {
        const kept = new Set(
          await this.#runtime.driver.run((connection) =>
            this.#runtime
              .executor(connection)
              .attemptExtendLeases(this.#lockedBy, snapshot, this.#leaseMs),
          ),
        );
        for (const held of snapshot) {
          // Not lost: ended by its ctx.transaction's success, which committed meanwhile.
          if (kept.has(held.id) || !this.#held.has(held) || held.completedInTransaction) continue;
          this.#runtime.logger.warn({ attemptId: held.id }, 'lease lost; aborting the handler');
          held.abort(
            new LeaseLostError(
              `the lease on attempt ${held.id} was lost (another worker may run it now); stop its work`,
            ),
          );
        }
      } catch (error) {
        this.#runtime.logger.warn(
          { error: describeError(error) },
          'could not extend leases; will try again',
        );
        this.#onError?.(error);
      }
    })().finally(() => {
      this.#beating = undefined;
    });
    await this.#beating;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#beating;
  }
}
