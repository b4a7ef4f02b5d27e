import type { AttemptOutcomesRow } from '../seam/executor.js';

/**
 * Rows of a dialect's `attemptOutcomesLastHour` (`minute` in epoch milliseconds, `status`,
 * `count`; numbers maybe as strings or bigints, as some clients return them) as outcome rows.
 */
export function outcomeRows(rows: readonly Record<string, unknown>[]): AttemptOutcomesRow[] {
  return rows.map((row) => ({
    minute: new Date(Number(row['minute'])),
    status: row['status'] as AttemptOutcomesRow['status'],
    count: Number(row['count']),
  }));
}
