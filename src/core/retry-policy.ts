import { ConfigError, shown } from './errors.js';

/** Milliseconds to wait before the next try, given how many tries have been made (1 after the first). */
export type Backoff = (numAttempts: number) => number;

/** How many times to try and how long to wait in between. */
export interface RetryOptions {
  /** @defaultValue 25 */
  readonly maxAttempts?: number;
  /** @defaultValue `exponentialBackoff()`: 1 s, 2 s, 4 s … capped at 1 h, ±20 % jitter */
  readonly backoff?: Backoff;
}

export const defaultMaxAttempts = 25;

/**
 * Exponential backoff with jitter, never below `minMs`.
 *
 * @example
 * defineTarget('Mailer', methods, { backoff: exponentialBackoff({ baseMs: 5_000, maxMs: 600_000 }) });
 */
export function exponentialBackoff(
  options: {
    /** @defaultValue 1000 */ baseMs?: number;
    /** @defaultValue 2 */ factor?: number;
    /** @defaultValue 3_600_000 (1 h) */ maxMs?: number;
    /** Fraction of the delay randomised either way. @defaultValue 0.2 */ jitter?: number;
    /** @defaultValue 1000 */ minMs?: number;
  } = {},
): Backoff {
  const { baseMs = 1000, factor = 2, maxMs = 3_600_000, jitter = 0.2, minMs = 1000 } = options;
  for (const [name, value] of Object.entries({ baseMs, factor, maxMs, jitter, minMs })) {
    if (!Number.isFinite(value) || value < 0) {
      throw new ConfigError(
        `exponentialBackoff: ${name} must be a finite number >= 0, got ${shown(value)}`,
      );
    }
  }
  if (jitter >= 1)
    throw new ConfigError(`exponentialBackoff: jitter must be below 1, got ${jitter}`);
  if (minMs > maxMs)
    throw new ConfigError(`exponentialBackoff: minMs (${minMs}) exceeds maxMs (${maxMs})`);
  return (numAttempts) => {
    const raw = Math.min(maxMs, baseMs * factor ** Math.max(0, numAttempts - 1));
    const jittered = raw * (1 - jitter + 2 * jitter * Math.random());
    return Math.round(Math.min(maxMs, Math.max(minMs, jittered)));
  };
}

export const defaultBackoff: Backoff = exponentialBackoff();

export function checkMaxAttempts(value: number, where: string): number {
  if (!Number.isInteger(value) || value < 1 || value > 1_000_000) {
    throw new ConfigError(
      `${where}: maxAttempts must be an integer from 1 to 1000000, got ${shown(value)}`,
    );
  }
  return value;
}

/** A delay from a user's backoff, made safe to hand to the database. */
export function delayFor(backoff: Backoff, numAttempts: number): number {
  const ms = backoff(numAttempts);
  if (!Number.isFinite(ms) || ms < 0) return 1000;
  return Math.min(Math.round(ms), 365 * 24 * 3_600_000);
}
