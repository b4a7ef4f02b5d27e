import { describeError } from '../core/errors.js';
import type { AttemptCompletion } from '../driver/executor.js';
import type { Runtime } from './runtime.js';

/**
 * Collects outcomes and writes them in batches, one fenced statement per flush. The crash window:
 * outcomes waiting here (at most `flushMs` old) are lost if the process dies, and those tasks run
 * again once their lease runs out.
 */
export class Completer {
  readonly #runtime: Runtime;
  readonly #lockedBy: string;
  readonly #flushMs: number;
  readonly #maxBatch: number;
  #pending: AttemptCompletion[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;

  constructor(runtime: Runtime, lockedBy: string, options: { flushMs: number; maxBatch: number }) {
    this.#runtime = runtime;
    this.#lockedBy = lockedBy;
    this.#flushMs = options.flushMs;
    this.#maxBatch = options.maxBatch;
  }

  get size(): number {
    return this.#pending.length;
  }

  /** Queues an outcome; `flush()` resolves once everything queued before it is written. */
  add(completion: AttemptCompletion): void {
    this.#pending.push(completion);
    if (this.#pending.length >= this.#maxBatch) void this.flush();
    else this.#timer ??= setTimeout(() => void this.flush(), this.#flushMs);
  }

  /** Writes everything collected so far; retries a failed write until it succeeds or `signal` aborts. */
  async flush(signal?: AbortSignal): Promise<void> {
    while (this.#flushing) await this.#flushing;
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#pending.length === 0) return;
    // Bounded statements: a backlog that built up during a slow write goes out in chunks.
    const batch = this.#pending.splice(0, this.#maxBatch);
    this.#flushing = this.#write(batch, signal).finally(() => {
      this.#flushing = undefined;
    });
    await this.#flushing;
    if (this.#pending.length > 0) await this.flush(signal);
  }

  async #write(batch: AttemptCompletion[], signal: AbortSignal | undefined): Promise<void> {
    for (let delay = 100; ; delay = Math.min(delay * 2, 5000)) {
      try {
        const written = await this.#runtime.driver.run((connection) =>
          this.#runtime.executor(connection).attemptCompleteMany(this.#lockedBy, batch),
        );
        if (written.length < batch.length) {
          this.#runtime.logger.warn(
            { lost: batch.length - written.length },
            'some outcomes were not recorded because their leases had run out; those tasks will run again',
          );
        }
        return;
      } catch (error) {
        this.#runtime.logger.error(
          { error: describeError(error), batch: batch.length, retryInMs: delay },
          'could not record outcomes; retrying',
        );
        if (signal?.aborted) return;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }
}
