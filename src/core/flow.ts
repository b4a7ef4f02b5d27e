import { ConfigError, shown } from './errors.js';
import { checkOptionNames, optionNames } from './options.js';
import { characterCount, unstorableCharacter } from './storable-text.js';
import { checkQueue } from './target.js';

/**
 * Flow control of one queue (`queues: { mail: { concurrency: 5 } }` on the AsyncTask), enforced
 * by the claim itself across every worker and host that configures it.
 */
export interface QueueFlowOptions {
  /**
   * Most attempts of this queue `running` at once across all workers. Claimed attempts count from
   * their claim until their outcome is written, or until the rescuer hands back an expired lease.
   * @defaultValue no limit
   */
  readonly concurrency?: number;
  /**
   * Most attempts `running` at once per `concurrencyKey` (enqueue option) in this queue; attempts
   * without a key are not limited by it. A key at its limit does not hold back other keys.
   * @defaultValue 1
   */
  readonly keyConcurrency?: number;
  /**
   * `'key'`: claims take attempts round-robin across concurrency keys (the first due of each key,
   * then the second, …), so a key with a large backlog does not delay a key with a few.
   * @defaultValue due order (priority, then due time)
   */
  readonly fairness?: 'key';
  /**
   * Most starts (claims, a retry's included) of this queue, or of each concurrency key with
   * `perKey: true`, in any sliding window of `periodMs` across all workers and hosts.
   * @defaultValue no limit
   */
  readonly rateLimit?: RateLimitOptions;
}

/** A queue's rate limit: at most `limit` starts in any `periodMs` window. */
export interface RateLimitOptions {
  /** Most starts per window: a whole number of at least 1. */
  readonly limit: number;
  /** The window, in milliseconds: a whole number from 1 to {@link maxRatePeriodMs}. */
  readonly periodMs: number;
  /**
   * Count starts per concurrency key (attempts without a key share one count) instead of across
   * the queue.
   * @defaultValue false
   */
  readonly perKey?: boolean;
}

/** The longest rate-limit window: 30 days (starts are kept this long at most). */
export const maxRatePeriodMs = 30 * 24 * 3_600_000;

/** A queue's flow control once checked: what the limited claim is given. */
export interface QueueFlow {
  readonly queue: string;
  /** null: no limit across the queue. */
  readonly concurrency: number | null;
  readonly keyConcurrency: number;
  /** Round-robin across keys. */
  readonly fair: boolean;
  /** null: no rate limit. */
  readonly rateLimit: {
    readonly limit: number;
    readonly periodMs: number;
    readonly perKey: boolean;
  } | null;
}

/** The longest concurrency key (MySQL's column is VARCHAR(255)). */
export const maxConcurrencyKeyLength = 255;

const flowOptionNames = optionNames<QueueFlowOptions>({
  concurrency: true,
  keyConcurrency: true,
  fairness: true,
  rateLimit: true,
});

/** Checks the AsyncTask's `queues` option: a ConfigError names the first wrong entry. */
export function checkQueueFlows(given: unknown, where: string): ReadonlyMap<string, QueueFlow> {
  const flows = new Map<string, QueueFlow>();
  if (given === undefined) return flows;
  if (typeof given !== 'object' || given === null || Array.isArray(given)) {
    throw new ConfigError(
      `${where}: queues must be an object of queue name to limits, e.g. { mail: { concurrency: 5 } }`,
    );
  }
  const prototype: unknown = Object.getPrototypeOf(given);
  if (prototype !== Object.prototype && prototype !== null) {
    // A Map's entries are not its properties: it would configure no limit at all.
    throw new ConfigError(
      `${where}: queues must be a plain object of queue name to limits, e.g. { mail: { concurrency: 5 } }, got ${shown(given)}${given instanceof Map ? '; pass Object.fromEntries(map)' : ''}`,
    );
  }
  for (const [queue, options] of Object.entries(given as Record<string, unknown>)) {
    checkQueue(queue, `${where}: queues`);
    const at = `${where}: queues.${queue}`;
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new ConfigError(`${at} must be an object such as { concurrency: 5 }`);
    }
    checkOptionNames(options, flowOptionNames, at);
    const { concurrency, keyConcurrency, fairness, rateLimit } = options as QueueFlowOptions;
    if (fairness !== undefined && fairness !== 'key') {
      throw new ConfigError(`${at}: fairness must be 'key' (or left out), got ${shown(fairness)}`);
    }
    flows.set(queue, {
      queue,
      concurrency: concurrency === undefined ? null : checkLimit(concurrency, `${at}.concurrency`),
      keyConcurrency:
        keyConcurrency === undefined ? 1 : checkLimit(keyConcurrency, `${at}.keyConcurrency`),
      fair: fairness === 'key',
      rateLimit: rateLimit === undefined ? null : checkRateLimit(rateLimit, `${at}.rateLimit`),
    });
  }
  return flows;
}

const rateOptionNames = optionNames<RateLimitOptions>({
  limit: true,
  periodMs: true,
  perKey: true,
});

function checkRateLimit(value: unknown, at: string): NonNullable<QueueFlow['rateLimit']> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(
      `${at} must be an object such as { limit: 100, periodMs: 60_000 }, got ${shown(value)}`,
    );
  }
  checkOptionNames(value, rateOptionNames, at);
  const { limit, periodMs, perKey } = value as RateLimitOptions;
  if (
    typeof periodMs !== 'number' ||
    !Number.isSafeInteger(periodMs) ||
    periodMs < 1 ||
    periodMs > maxRatePeriodMs
  ) {
    throw new ConfigError(
      `${at}.periodMs must be a whole number of milliseconds from 1 to ${maxRatePeriodMs} (30 days), got ${shown(periodMs)}`,
    );
  }
  if (perKey !== undefined && typeof perKey !== 'boolean') {
    throw new ConfigError(`${at}.perKey must be true or false (or left out), got ${shown(perKey)}`);
  }
  return { limit: checkLimit(limit, `${at}.limit`), periodMs, perKey: perKey === true };
}

/** PostgreSQL compares limits as `integer`; a larger one is no limit: leave it out. */
const maxLimit = 2_147_483_647;

function checkLimit(value: unknown, at: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > maxLimit) {
    throw new ConfigError(
      `${at} must be a whole number from 1 to ${maxLimit} (leave it out for no limit), got ${shown(value)}`,
    );
  }
  return value;
}

/** Checks an enqueue's `concurrencyKey`; `flows` must limit its queue, or the key would do nothing. */
export function checkConcurrencyKey(
  key: unknown,
  queue: string,
  flows: ReadonlyMap<string, QueueFlow>,
  where: string,
): string {
  if (
    typeof key !== 'string' ||
    key.length === 0 ||
    characterCount(key) > maxConcurrencyKeyLength
  ) {
    throw new ConfigError(
      `${where}: concurrencyKey must be a string of 1-${maxConcurrencyKeyLength} characters, got ${shown(key)}`,
    );
  }
  const unstorable = unstorableCharacter(key);
  if (unstorable === 'lone surrogate') {
    throw new ConfigError(
      `${where}: concurrencyKey contains a lone surrogate (half of a UTF-16 pair), which cannot be stored as UTF-8; pass well-formed text`,
    );
  }
  if (unstorable === 'NUL') {
    throw new ConfigError(
      `${where}: concurrencyKey contains NUL (\\u0000), which PostgreSQL cannot store in text; leave it out of the key`,
    );
  }
  if (!flows.has(queue)) {
    throw new ConfigError(
      `${where}: concurrencyKey is limited per queue, and queue '${queue}' has no limits; add queues: { '${queue}': { keyConcurrency: 1 } } to the AsyncTask`,
    );
  }
  return key;
}
