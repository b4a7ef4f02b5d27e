/**
 * Wakes from enqueues made by this process, for a worker without notifications. Such a wake comes
 * when the INSERT returns, before the caller's transaction commits: the claim it starts may not
 * see the row yet, and the worker would then sleep a whole poll interval. So the worker looks
 * again a few times after the latest local enqueue (its echoes): a commit that comes within a
 * second of its INSERT is picked up at the next echo rather than at the next poll.
 */
export class LocalWakes {
  /** After the latest local enqueue; only those shorter than the poll interval are used. */
  static readonly echoesMs: readonly number[] = [5, 20, 60, 150, 400, 1000];

  readonly #wake: (queue: string) => void;
  readonly #echoesMs: readonly number[];
  /** The queues enqueued to since the echoes began: few, and cleared when they end. */
  readonly #queues = new Set<string>();
  #lastAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #dueAt = 0;

  constructor(wake: (queue: string) => void, pollIntervalMs: number) {
    this.#wake = wake;
    this.#echoesMs = LocalWakes.echoesMs.filter((ms) => ms < pollIntervalMs);
  }

  enqueued(queue: string): void {
    this.#wake(queue);
    if (this.#echoesMs.length === 0) return;
    this.#queues.add(queue);
    this.#lastAt = performance.now();
    // The timer may be set for a later echo of an earlier enqueue: this one's first comes first.
    if (this.#timer !== undefined && this.#dueAt <= this.#lastAt + this.#echoesMs[0]!) return;
    clearTimeout(this.#timer);
    this.#arm(this.#lastAt);
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queues.clear();
  }

  /** Sets the timer for the first echo of the latest enqueue that falls after `after`. */
  #arm(after: number): void {
    const lastAt = this.#lastAt;
    const ms = this.#echoesMs.find((echo) => lastAt + echo > after);
    if (ms === undefined) {
      this.#timer = undefined;
      this.#queues.clear();
      return;
    }
    this.#dueAt = lastAt + ms;
    this.#timer = setTimeout(
      () => {
        const at = performance.now();
        for (const queue of this.#queues) this.#wake(queue);
        this.#arm(at);
      },
      Math.max(0, this.#dueAt - performance.now()),
    );
    this.#timer.unref();
  }
}
