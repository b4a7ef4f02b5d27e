import { shortestRetentionMs } from '../core/retention.js';
import { dueTicks, type ScheduleDefinition } from '../core/schedule.js';
import type { Runtime } from './runtime.js';

/** Longest sleep between passes: a wall clock set forward or back is noticed within it. */
const maxSleepMs = 60_000;
/** After a failed enqueue (the database away), the next try comes this soon at the latest. */
const retryMs = 5_000;

/**
 * Enqueues the ticks of the runtime's schedules for a worker. Each tick is one attempt with the
 * token `schedule:<name>:<tick>`, so workers that all see a tick insert one row between them, and
 * a restarted worker does not repeat the ticks it or another worker already enqueued.
 *
 * A worker remembers the last tick it enqueued per schedule and, on each pass, enqueues every tick
 * since. On its first pass it knows nothing: it enqueues the newest `catchUp` ticks (by default
 * only the latest), never ticks older than the shortest retention, whose attempts may have been
 * pruned (enqueueing them again would run them twice). `runDue` makes such a first pass on every
 * call.
 */
export class Scheduler {
  readonly #runtime: Runtime;
  readonly #schedules: readonly ScheduleDefinition[];
  readonly #onError: (error: unknown) => void;
  /** Per schedule: ticks up to here are enqueued. */
  readonly #enqueuedUpTo = new Map<string, Date>();
  #timer: NodeJS.Timeout | undefined;
  #pass: Promise<void> | undefined;
  #stopped = false;
  /** A schedule's enqueue failed on the last pass: the next comes soon, not at the next tick. */
  #behind = false;

  constructor(runtime: Runtime, onError: (error: unknown) => void) {
    this.#runtime = runtime;
    this.#schedules = runtime.schedules;
    this.#onError = onError;
  }

  start(): void {
    this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#pass;
  }

  /**
   * One pass: enqueues what is due now and returns how many ticks were enqueued. A schedule whose
   * enqueue fails is left where it was, to be tried again on the next pass; the error goes to the
   * callback, and the other schedules go on.
   */
  async enqueueDue(now = new Date()): Promise<number> {
    const retentionMs = this.#runtime.retention && shortestRetentionMs(this.#runtime.retention);
    // Attempts are pruned by the database's clock: by a host clock that lags it, a pruned tick
    // would still look young enough to enqueue, and would run twice.
    const databaseNow = retentionMs == null ? null : await this.#databaseClock();
    const bound = (): number =>
      databaseNow === null || retentionMs == null ? -Infinity : databaseNow() - retentionMs;
    const oldest = databaseNow === null ? null : new Date(bound());
    let enqueued = 0;
    this.#behind = false;
    // The same bound when the insert runs, however long it waited for a connection.
    const due = (tick: Date) => tick.getTime() >= bound();
    for (const schedule of this.#schedules) {
      const after = this.#enqueuedUpTo.get(schedule.name) ?? null;
      const ticks = dueTicks(schedule, after, now, oldest);
      try {
        if (ticks.length > 0) enqueued += await this.#runtime.enqueueTicks(schedule, ticks, due);
      } catch (error) {
        this.#behind = true;
        this.#onError(error);
        continue;
      }
      // A pass cut short by its cap goes on from its last tick; otherwise everything up to now
      // is done (a tick at exactly `now` included).
      const cut = after !== null && ticks.length > 0 && ticks.at(-1)! < now;
      this.#enqueuedUpTo.set(schedule.name, cut ? ticks.at(-1)! : now);
    }
    return enqueued;
  }

  /**
   * The database's clock from here on: read once, then run on by this process's monotonic clock.
   * It can only run ahead of the database's by the read's round trip, which bounds ticks a little
   * more tightly, never less.
   */
  async #databaseClock(): Promise<() => number> {
    const asked = performance.now();
    const read = await this.#runtime.driver.run((connection) =>
      this.#runtime.executor(connection).databaseNow(),
    );
    return () => read.getTime() + (performance.now() - asked);
  }

  #run(): void {
    if (this.#stopped) return;
    this.#pass = this.enqueueDue().then(
      (count) => {
        if (count > 0) {
          this.#runtime.logger.debug({ ticks: count }, 'scheduler enqueued due ticks');
        }
        this.#sleep();
      },
      (error: unknown) => {
        this.#behind = true;
        this.#onError(error);
        this.#sleep();
      },
    );
  }

  #sleep(): void {
    if (this.#stopped) return;
    const now = Date.now();
    let wait = this.#behind ? retryMs : maxSleepMs;
    for (const schedule of this.#schedules) {
      const next = schedule.cron.nextRun(new Date(now));
      if (next !== null) wait = Math.min(wait, next.getTime() - now);
    }
    // Timers may fire a little early: a few milliseconds late, the tick is surely in the past.
    this.#timer = setTimeout(() => this.#run(), Math.max(0, wait) + 5);
    this.#timer.unref();
  }
}
