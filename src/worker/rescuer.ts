import type { AttemptRecord } from '../core/attempt.js';
import type { Runtime } from './runtime.js';

/** Attempts one rescue statement hands back; a full batch is followed by another at once. */
const batchSize = 500;

/**
 * Hands back, on a timer, attempts whose lease ran out (their worker died or lost its database):
 * pending again, or failed when out of attempts. Any worker may rescue any attempt; the statement
 * is safe to run from several at once.
 */
export class Rescuer {
  readonly #runtime: Runtime;
  readonly #intervalMs: number;
  readonly #onRescued: (record: AttemptRecord, durationMs: number) => void;
  /** After a statement that handed something back: there is work to claim. */
  readonly #onWake: () => void;
  readonly #onError: (error: unknown) => void;
  #timer: NodeJS.Timeout | undefined;
  #rescuing: Promise<void> | undefined;
  #stopped = false;

  constructor(
    runtime: Runtime,
    options: {
      intervalMs: number;
      onRescued: (record: AttemptRecord, durationMs: number) => void;
      onWake: () => void;
      onError: (error: unknown) => void;
    },
  ) {
    this.#runtime = runtime;
    this.#intervalMs = options.intervalMs;
    this.#onRescued = options.onRescued;
    this.#onWake = options.onWake;
    this.#onError = options.onError;
  }

  start(): void {
    this.#timer = setInterval(() => void this.#rescue(), this.#intervalMs);
  }

  /** Starts no more rescues; resolves once the one under way, if any, has ended. */
  stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    return this.#rescuing ?? Promise.resolve();
  }

  async #rescue(): Promise<void> {
    if (this.#rescuing || this.#stopped) return;
    this.#rescuing = (async () => {
      try {
        for (;;) {
          const started = performance.now();
          const rescued = await this.#runtime.driver.run((connection) =>
            this.#runtime.executor(connection).attemptRescueExpired(batchSize),
          );
          const durationMs = performance.now() - started;
          for (const record of rescued) {
            this.#runtime.logger.warn(
              { attemptId: record.id, status: record.status },
              'rescued an attempt whose lease ran out',
            );
            this.#runtime.telemetry?.recorded(record, rescuedOutcome(record));
            this.#onRescued(record, durationMs);
          }
          if (rescued.length > 0) this.#onWake();
          if (rescued.length < batchSize || this.#stopped) break;
        }
      } catch (error) {
        this.#onError(error);
      }
    })().finally(() => {
      this.#rescuing = undefined;
    });
    await this.#rescuing;
  }
}

/**
 * A rescued attempt goes back to `pending` (counted as a retry), or, out of attempts, fails, or,
 * its cancel requested, is expired.
 */
export function rescuedOutcome(record: AttemptRecord): 'retried' | 'failed' | 'expired' {
  return record.status === 'failed' || record.status === 'expired' ? record.status : 'retried';
}
