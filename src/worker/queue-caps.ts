import type { HeldAttempt } from './held-attempt.js';

/**
 * Per-queue caps on handlers running at once (`queues: [{ name, concurrency }]`), within the
 * worker's overall `concurrency`. Attempts claimed but not started count against their queue too,
 * so a queue at its cap is left out of claims and its backlog stays pending for other workers.
 */
export class QueueCaps {
  readonly #limits: ReadonlyMap<string, number>;
  readonly #running = new Map<string, number>();

  constructor(limits: ReadonlyMap<string, number>) {
    this.#limits = limits;
  }

  /** Of `queues`, those that may take more work now; undefined when every one is at its cap. */
  claimable(
    queues: readonly string[],
    buffer: readonly HeldAttempt[],
  ): readonly string[] | undefined {
    const open = queues.filter((queue) => {
      const limit = this.#limits.get(queue);
      if (limit === undefined) return true;
      const buffered = buffer.filter((held) => held.record.queue === queue).length;
      return (this.#running.get(queue) ?? 0) + buffered < limit;
    });
    return open.length === 0 ? undefined : open;
  }

  /** Whether a handler of `queue` may start now. */
  hasRoom(queue: string): boolean {
    const limit = this.#limits.get(queue);
    return limit === undefined || (this.#running.get(queue) ?? 0) < limit;
  }

  started(queue: string): void {
    this.#running.set(queue, (this.#running.get(queue) ?? 0) + 1);
  }

  finished(queue: string): void {
    this.#running.set(queue, (this.#running.get(queue) ?? 1) - 1);
  }
}
