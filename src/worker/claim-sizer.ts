import type { AttemptRecord } from '../core/attempt.js';
import type { ClaimSizing } from './pipeline.js';

/**
 * Decides how many attempts a worker holds (running plus claimed ahead) and how many one claim
 * takes. Unless the user fixed `prefetch`, the worker holds about `horizonMs` worth of work at the
 * rate its handlers finish: a drain of no-op handlers holds thousands, so claims are big and rare;
 * handlers of 50 ms hold a few dozen, so nothing claimed waits long and a second worker finds the
 * rest of the backlog still pending. Large arguments hold fewer: the held attempts' stored
 * arguments stay under `maxHeldArgChars`, so 100 KB payloads do not make a claim of a thousand.
 */
export class ClaimSizer implements ClaimSizing {
  /** Adaptive holding never goes past this: a claim of it takes milliseconds, its memory ~1 MB. */
  static readonly maxAdaptiveHold = 2000;
  /** Most rows one claim statement takes when `batchSize` is not given. */
  static readonly defaultBatchSize = 1000;
  /** How much work, at the measured rate, the worker holds. */
  static readonly horizonMs = 200;
  /**
   * Characters of stored arguments (and last errors) held at most, at the average of recent
   * claims: a 1,000-row claim of 100 KB payloads would hold 100 MB as text and again as parsed
   * objects. Never fewer than `concurrency` attempts.
   */
  static readonly maxHeldArgChars = 16 * 2 ** 20;
  /** Short, so that a backlog is met at full size within a few claims. */
  static readonly #sampleMs = 25;

  readonly #concurrency: number;
  readonly #fixedHold: number | undefined;
  readonly #batchSize: number;
  #finished = 0;
  #sampledAt = performance.now();
  /** Finished handlers per millisecond, smoothed. */
  #rate = 0;
  /** Stored characters per claimed attempt, smoothed; 0 until the first claim. */
  #charsPerAttempt = 0;

  constructor(options: {
    concurrency: number;
    prefetch?: number | undefined;
    batchSize?: number | undefined;
  }) {
    this.#concurrency = options.concurrency;
    this.#fixedHold =
      options.prefetch === undefined ? undefined : options.concurrency + options.prefetch;
    this.#batchSize = options.batchSize ?? ClaimSizer.defaultBatchSize;
  }

  /** Counts a handler that finished. */
  finished(): void {
    this.#finished += 1;
  }

  /** Learns how large claimed attempts are. */
  claimed(records: readonly AttemptRecord[]): void {
    if (records.length === 0) return;
    let chars = 0;
    for (const record of records) {
      chars += (record.methodArgs?.length ?? 0) + (record.lastError?.length ?? 0);
    }
    const average = chars / records.length;
    // Rises at once (one claim of large payloads is enough to hold fewer), falls by halves.
    this.#charsPerAttempt =
      average > this.#charsPerAttempt ? average : (this.#charsPerAttempt + average) / 2;
  }

  /** How many attempts to hold now. */
  hold(): number {
    if (this.#fixedHold !== undefined) return this.#fixedHold;
    const now = performance.now();
    const elapsed = now - this.#sampledAt;
    if (elapsed >= ClaimSizer.#sampleMs) {
      const rate = this.#finished / elapsed;
      // Rises at once (a backlog arrived), falls by halves (one slow sample is not a trend).
      this.#rate = rate > this.#rate ? rate : (this.#rate + rate) / 2;
      this.#finished = 0;
      this.#sampledAt = now;
    }
    const wanted = Math.ceil(this.#rate * ClaimSizer.horizonMs);
    const least = 2 * this.#concurrency;
    const hold = Math.min(Math.max(wanted, least), Math.max(ClaimSizer.maxAdaptiveHold, least));
    if (this.#charsPerAttempt === 0) return hold;
    const bySize = Math.floor(ClaimSizer.maxHeldArgChars / this.#charsPerAttempt);
    return Math.min(hold, Math.max(bySize, this.#concurrency));
  }

  /**
   * How many to claim given how many are held, or 0 to wait: a claim is worth a round trip when
   * at least half the batch fits, or when handler slots would otherwise sit idle.
   */
  claimSize(held: number, buffered: number): number {
    const hold = this.hold();
    const room = hold - held;
    if (room <= 0) return 0;
    const worthIt = room >= Math.min(this.#batchSize, Math.ceil(hold / 2)) || buffered === 0;
    return worthIt ? Math.min(room, this.#batchSize) : 0;
  }
}
