/**
 * How long a worker waits after a claim that came up short. Without notifications (SQLite and
 * MySQL/MariaDB across processes, PostgreSQL with `pollOnly` or while LISTEN is down), waiting
 * the poll interval each time made a steady stream enqueued by other processes wait half an
 * interval on average before it started (about 500 ms at the default). So for a while after a
 * claim that took something the worker looks again every 25 ms (a stream comes in bursts, with
 * gaps of tens of milliseconds between an application's commits), then twice as long after each
 * claim that takes nothing, up to the poll interval: a queue in use starts its tasks within tens
 * of milliseconds, and an idle one costs about 16 more claims after its last task at the default
 * interval (10 in the first 250 ms, then at 50 ms, 100 ms, ... up to 1 s). Looking every 10 ms
 * halved the latency again but doubled the worker's CPU per task in a stream of 5,000 a second;
 * 25 ms is at most 40 claims a second per worker in use. With notifications, enqueues wake the
 * worker, and it waits the poll interval.
 */
export class PollPace {
  /** The wait while the queue is in use. */
  static readonly soonMs = 25;
  /** How long after a claim that took something the queue counts as in use. */
  static readonly inUseMs = 250;

  readonly intervalMs: number;
  readonly #notified: () => boolean;
  #inUseUntil = -Infinity;
  #nextMs: number;

  /** `notified`: whether enqueues arrive as notifications now. */
  constructor(pollIntervalMs: number, notified: () => boolean = () => false) {
    this.intervalMs = pollIntervalMs;
    this.#notified = notified;
    this.#nextMs = pollIntervalMs;
  }

  /**
   * The wait before the next claim, after one that took `taken` attempts and fell short; at most
   * `capMs` (a flow limit's own wait).
   */
  after(taken: number, capMs = Infinity): number {
    const now = performance.now();
    if (taken > 0) {
      this.#inUseUntil = now + PollPace.inUseMs;
      this.#nextMs = PollPace.soonMs * 2;
    }
    if (this.#notified()) return Math.min(this.intervalMs, capMs);
    if (now < this.#inUseUntil) return Math.min(PollPace.soonMs, this.intervalMs, capMs);
    const ms = Math.min(this.#nextMs, this.intervalMs);
    this.#nextMs = Math.min(this.intervalMs, ms * 2);
    return Math.min(ms, capMs);
  }
}
