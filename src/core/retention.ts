import { ConfigError } from './errors.js';
import { checkOptionNames, optionNames } from './options.js';

const day = 86_400_000;

/**
 * How long finished attempts are kept after they complete (`completedAt`), per status, in
 * milliseconds. A status left out keeps its default; `Infinity` keeps that status forever.
 * Pending and running attempts are never pruned.
 */
export interface RetentionOptions {
  /** @defaultValue 86_400_000 (1 day) */
  readonly succeededMs?: number;
  /** @defaultValue 1_209_600_000 (14 days) */
  readonly failedMs?: number;
  /** @defaultValue 1_209_600_000 (14 days) */
  readonly expiredMs?: number;
}

const retentionOptionNames = optionNames<RetentionOptions>({
  succeededMs: true,
  failedMs: true,
  expiredMs: true,
});

/** Retention as the worker applies it: milliseconds per finished status, null to keep forever. */
export interface Retention {
  readonly succeededMs: number | null;
  readonly failedMs: number | null;
  readonly expiredMs: number | null;
}

export const defaultRetention: Retention = {
  succeededMs: day,
  failedMs: 14 * day,
  expiredMs: 14 * day,
};

/**
 * The shortest retention of any status: an attempt created more recently than this cannot be
 * pruned yet (it completed after it was created). Null when every status is kept forever.
 */
export function shortestRetentionMs(retention: Retention): number | null {
  const kept = [retention.succeededMs, retention.failedMs, retention.expiredMs].filter(
    (ms): ms is number => ms !== null,
  );
  return kept.length === 0 ? null : Math.min(...kept);
}

/** A century: beyond it a cutoff stops being a date every database can hold. */
const maxRetentionMs = 36_500 * day;

/**
 * Checks the `retention` option. Null when nothing is ever pruned (`false`, or every status kept
 * forever), so callers need not start a pruner at all.
 *
 * @throws ConfigError for anything but `false`, `undefined` or an object of valid durations
 */
export function resolveRetention(
  option: false | RetentionOptions | undefined,
  where: string,
): Retention | null {
  if (option === false) return null;
  if (option === undefined) return defaultRetention;
  if (typeof option !== 'object' || option === null || Array.isArray(option)) {
    throw new ConfigError(
      `${where}: retention must be false (keep every attempt) or an object such as { succeededMs: 86_400_000 }`,
    );
  }
  checkOptionNames(option, retentionOptionNames, `${where}: retention`);
  const resolved: Retention = {
    succeededMs: duration(option.succeededMs, defaultRetention.succeededMs, 'succeededMs', where),
    failedMs: duration(option.failedMs, defaultRetention.failedMs, 'failedMs', where),
    expiredMs: duration(option.expiredMs, defaultRetention.expiredMs, 'expiredMs', where),
  };
  return resolved.succeededMs === null && resolved.failedMs === null && resolved.expiredMs === null
    ? null
    : resolved;
}

function duration(
  value: number | undefined,
  fallback: number | null,
  name: string,
  where: string,
): number | null {
  if (value === undefined) return fallback;
  if (value === Infinity) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new ConfigError(
      `${where}: retention.${name} must be a whole number of milliseconds >= 0 (or Infinity to keep forever), got ${String(value)}`,
    );
  }
  if (value > maxRetentionMs) {
    throw new ConfigError(
      `${where}: retention.${name} of ${value} ms is over a century; use Infinity to keep forever`,
    );
  }
  return value;
}
