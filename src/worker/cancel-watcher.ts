import { CancelledError, describeError } from '../core/errors.js';
import type { HeldAttempt, HeldAttempts } from './held-attempt.js';
import type { Runtime } from './runtime.js';

/** How often held attempts are checked for cancel requests when no notification brings them. */
export const cancelCheckMs = 500;

/**
 * Aborts the held attempts whose cancel was requested (`tasks.cancel()`), with a CancelledError.
 * A notification (`cancel <id>` on PostgreSQL's channel) aborts at once; without one, the held
 * attempts are looked up by id every {@link cancelCheckMs} while there are any, and not at all
 * while none is held.
 */
export class CancelWatcher {
  readonly #runtime: Runtime;
  readonly #held: () => HeldAttempts;
  readonly #notified: () => boolean;
  readonly #onError: (error: unknown) => void;
  #timer: NodeJS.Timeout | undefined;
  #checking = false;

  constructor(
    runtime: Runtime,
    options: {
      /** What this process holds now (claimed, started or not). */
      held: () => HeldAttempts;
      /** True while notifications arrive: no lookups then. */
      notified: () => boolean;
      onError: (error: unknown) => void;
    },
  ) {
    this.#runtime = runtime;
    this.#held = options.held;
    this.#notified = options.notified;
    this.#onError = options.onError;
    this.#timer = setInterval(() => void this.check(), cancelCheckMs);
    this.#timer.unref();
  }

  /** A notification named `id`: aborts it if this process holds it. */
  requested(id: string): void {
    for (const held of this.#held()) if (held.id === id) cancel(held);
  }

  /**
   * Looks up cancel requests of the attempts held now (none when nothing is held); while
   * notifications arrive only when `always` (after a subscription, for requests made without one).
   */
  async check(always = false): Promise<void> {
    const held = this.#held();
    if (this.#checking || held.size === 0 || (!always && this.#notified())) return;
    this.#checking = true;
    const snapshot = [...held].filter((attempt) => !attempt.aborted);
    try {
      const ids = new Set(
        await this.#runtime.driver.run((connection) =>
          this.#runtime.executor(connection).attemptListCancelRequested(snapshot),
        ),
      );
      for (const attempt of snapshot) if (ids.has(attempt.id)) cancel(attempt);
    } catch (error) {
      this.#runtime.logger.warn(
        { error: describeError(error) },
        'could not look up cancel requests; will try again',
      );
      this.#onError(error);
    } finally {
      this.#checking = false;
    }
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

function cancel(held: HeldAttempt): void {
  held.abort(
    new CancelledError(held.id, `attempt ${held.id} was cancelled; it will be recorded expired`),
  );
}
