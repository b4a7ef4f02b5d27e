/**
 * How long a worker waits after a claim that came up short. Without notifications (SQLite and
 * MySQL/MariaDB across processes, PostgreSQL with `pollOnly` or while LISTEN is down), waiting
 * the poll interval each time made a steady stream enqueued by other processes wait half an
 * interval on average before it started (about 500 ms at the default). So after a claim that
 * took something the worker looks again soon, and after each claim that took nothing it waits
 * twice as long, up to the poll interval: a queue in use starts its tasks within milliseconds,
 * and an idle one costs seven more claims after its last task (10 ms, 20 ms, ... up to 1 s).
 * With notifications, enqueues wake the worker: it waits the poll interval.
 */
export class PollPace {
  /** The wait after a claim that took something. */
  static readonly soonMs = 10;

  readonly intervalMs: number;
  readonly #notified: () => boolean;
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
    if (taken > 0) this.#nextMs = Math.min(PollPace.soonMs, this.intervalMs);
    const ms = this.#notified() ? this.intervalMs : this.#nextMs;
    this.#nextMs = Math.min(this.intervalMs, this.#nextMs * 2);
    return Math.min(ms, capMs);
  }
}
