import { ConfigError, describeError } from '../core/errors.js';
import type { Runtime } from './runtime.js';
import { integerOption } from '../core/options.js';

const integer = integerOption('pruner');

export interface PrunerOptions {
  /** Time between rounds, ±10 % so that workers started together drift apart. @defaultValue 60000 */
  readonly intervalMs?: number;
  /** Attempts one statement looks at, and so the most it deletes. @defaultValue 1000 */
  readonly batchSize?: number;
  /** Statements per round at most; the next round carries on where this one stopped. @defaultValue 100 */
  readonly maxBatches?: number;
  /** Called when a round fails (it is logged too); the next round tries again. */
  readonly onError?: (error: unknown) => void;
}

/** The first round comes this long after start(), plus up to as much again at random. */
const firstRoundMs = 2000;

/**
 * Deletes finished attempts past the runtime's retention, on a timer, for a worker.
 *
 * The work is a sweep along the primary key, in windows of `batchSize` attempts: each window is
 * one statement that deletes the finished attempts in it that are old enough for their status,
 * and the sweep starts over once it reaches attempts created too recently for any retention
 * (ids follow age). So a statement reads a bounded range whatever the table's size, and no index
 * on `completed_at` costs every completion. What the sweep steps over are attempts kept longer
 * (failed ones, by default, for two weeks): it carries on from round to round until done.
 *
 * Bounded, so pruning never takes over the database: at most `maxBatches` statements a round,
 * each followed by a pause as long as it took (at least 10 ms), so a round keeps at most half of
 * one connection busy. With the defaults that is up to 100,000 attempts a minute.
 *
 * One process prunes a table at a time: every statement takes a try-lock on the table
 * (PostgreSQL: a transaction-scoped advisory lock; MySQL: GET_LOCK; SQLite's single writer
 * serialises statements anyway), and a round that finds it taken ends, leaving the table to the
 * process that holds it.
 *
 * @example
 * const pruner = runtime.retention ? new Pruner(runtime, { onError }) : undefined;
 * pruner?.start();
 * // …
 * await pruner?.close();
 */
export class Pruner {
  readonly #runtime: Runtime;
  readonly #intervalMs: number;
  readonly #batchSize: number;
  readonly #maxBatches: number;
  readonly #onError: ((error: unknown) => void) | undefined;
  /** Where the sweep goes on: the last id of the previous window ('0': the start). */
  #cursor = '0';
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<number> | undefined;
  #endPause: (() => void) | undefined;
  #started = false;
  #closed = false;

  constructor(runtime: Runtime, options: PrunerOptions = {}) {
    this.#runtime = runtime;
    this.#intervalMs = integer(options.intervalMs, 60_000, 'intervalMs', 10, 86_400_000);
    this.#batchSize = integer(options.batchSize, 1000, 'batchSize', 1, 100_000);
    this.#maxBatches = integer(options.maxBatches, 100, 'maxBatches', 1, 1_000_000);
    if (options.onError !== undefined && typeof options.onError !== 'function') {
      throw new ConfigError('pruner: onError must be a function (error) => void');
    }
    this.#onError = options.onError;
  }

  /** Starts the timer: a first round a few seconds from now, then one every `intervalMs`. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#schedule(firstRoundMs * (1 + Math.random()));
  }

  /**
   * One round now (after any round under way): returns how many attempts it deleted. 0 when
   * retention is off, when another process holds the table's prune lock, or after `close()`.
   * Rejects when a statement fails.
   */
  async pruneOnce(): Promise<number> {
    while (this.#round) await this.#round.catch(() => undefined);
    const round = this.#sweep();
    this.#round = round;
    try {
      return await round;
    } finally {
      if (this.#round === round) this.#round = undefined;
    }
  }

  /** Stops the timer and waits for the round under way, which stops after its current statement. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#endPause?.();
    while (this.#round) await this.#round.catch(() => undefined);
  }

  #schedule(ms: number): void {
    this.#timer = setTimeout(() => void this.#tick(), ms);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    try {
      await this.pruneOnce();
    } catch (error) {
      this.#runtime.logger.warn(
        { error: describeError(error) },
        'could not prune finished attempts; will try again next round',
      );
      this.#onError?.(error);
    }
    if (!this.#closed) this.#schedule(this.#intervalMs * (0.9 + 0.2 * Math.random()));
  }

  async #sweep(): Promise<number> {
    const retention = this.#runtime.retention;
    if (retention === null) return 0;
    const started = performance.now();
    let deleted = 0;
    let pauseMs = 0;
    for (let batch = 0; batch < this.#maxBatches; batch += 1) {
      if (pauseMs > 0) await this.#pause(pauseMs);
      if (this.#closed) break;
      const before = performance.now();
      const window = await this.#runtime.driver.run((connection) =>
        this.#runtime.executor(connection).attemptPruneWindow({
          afterId: this.#cursor,
          limit: this.#batchSize,
          retention,
        }),
      );
      if (!window.locked) {
        this.#runtime.logger.debug({}, 'another process is pruning this table; skipping a round');
        break;
      }
      deleted += window.deleted;
      if (window.done || window.lastId === null) {
        this.#cursor = '0';
        break;
      }
      this.#cursor = window.lastId;
      pauseMs = Math.min(1000, Math.max(10, performance.now() - before));
    }
    if (deleted > 0) {
      this.#runtime.logger.info(
        { deleted, durationMs: Math.round(performance.now() - started) },
        'pruned finished attempts past their retention',
      );
    }
    return deleted;
  }

  /** Between statements: gives the database back to everything else; close() cuts it short. */
  async #pause(ms: number): Promise<void> {
    if (this.#closed) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#endPause = resolve;
      timer = setTimeout(resolve, ms);
      timer.unref();
    });
    clearTimeout(timer);
    this.#endPause = undefined;
  }
}
