// Statements that append to an attempt's run history (migration 0006), beside queries.ts, whose
// conventions they follow: the completion of runs that did not succeed, and the rescue of expired
// leases. Succeeded runs keep their own statement, attemptCompleteMany, which touches no history.

import { epochMs, outcomeAssignments, text } from './sql-parts.js';

/**
 * `t.runs` with `entry` (a JSON_OBJECT) appended, keeping at most 20 entries: every entry is
 * appended here, one at a time, so dropping the oldest once there are 20 keeps the bound.
 */
function appended(entry: string): string {
  return `JSON_ARRAY_APPEND(CASE WHEN JSON_LENGTH(COALESCE(t.runs, '[]')) >= 20
      THEN JSON_REMOVE(t.runs, '$[0]') ELSE COALESCE(t.runs, '[]') END, '$', ${entry})`;
}

/**
 * `t.runs` as a success's completion (attemptCompleteMany, queries.ts) leaves it: unchanged,
 * unless a cancel request turned the success into `expired`; then with the cancelled run's entry,
 * whose start the success path does not carry. `by` is a parameter (the lease holder).
 */
export const cancelledRunEntry = `IF(t.cancel_requested_at IS NULL, t.runs,
  ${appended(`JSON_OBJECT('n', o.num_attempts, 'by', ?, 'startedAt', NULL,
    'endedAt', ${epochMs('UTC_TIMESTAMP(3)')}, 'outcome', 'cancelled', 'error', 'Cancelled')`)})`;

/**
 * The lock column of a completed row: the call's marker, or the second marker where a cancel
 * request turned the outcome into `expired`, so the caller can tell those apart without reading
 * the rows back (see MysqlExecutor's #takeMarked).
 */
export const completedMarker = `IF(t.cancel_requested_at IS NULL, ?, ?)`;

// attemptCompleteMany (queries.ts) for runs that did not succeed: the same fence, marker and
// assignments, plus an entry for the run history. `by` is the lease holder the fence matches
// (the second parameter, the same value as the last); n, the attempt count it matches. The
// entry's error is what last_error becomes: it reads last_error only where o.error is NULL, and
// then last_error keeps its value, so the free order of assignments changes nothing.
export const attemptCompleteUnsucceededMany = `
UPDATE JSON_TABLE(?, '$[*]' COLUMNS (
    attempt_id BIGINT UNSIGNED PATH '$.id',
    num_attempts INT PATH '$.n',
    status VARCHAR(16) PATH '$.status',
    delay_ms BIGINT PATH '$.delayMs',
    error ${text} PATH '$.error',
    started_at BIGINT PATH '$.startedAt',
    ended_at BIGINT PATH '$.endedAt')) AS o
  STRAIGHT_JOIN {{table}} AS t FORCE INDEX (PRIMARY) ON t.id = o.attempt_id
SET ${outcomeAssignments}
  t.runs = ${appended(`JSON_OBJECT('n', o.num_attempts, 'by', ?, 'startedAt', o.started_at,
    'endedAt', COALESCE(o.ended_at, ${epochMs('UTC_TIMESTAMP(3)')}),
    'outcome', CASE WHEN t.cancel_requested_at IS NOT NULL OR o.status = 'expired' THEN 'cancelled'
      WHEN o.status = 'pending' THEN 'retried' ELSE 'failed' END,
    'error', CASE WHEN t.cancel_requested_at IS NULL THEN COALESCE(o.error, t.last_error)
      ELSE 'Cancelled' END)`)},
  t.locked_by = ${completedMarker}, t.locked_until = CAST(? AS DATETIME(3)),
  t.updated_at = UTC_TIMESTAMP(3)
WHERE t.status = 'running' AND t.locked_by = ? AND t.num_attempts = o.num_attempts`;

// First half of a rescue, inside its transaction: SKIP LOCKED so concurrent rescuers split the
// work and never wait on a worker completing the same row (that worker either committed first,
// so the row is no longer running, or its fenced write finds the row rescued). The error text
// and the lease holder are read here because the UPDATE clears locked_by.
export const attemptRescueSelect = `
SELECT CAST(t.id AS CHAR) AS id, t.locked_by,
  CONCAT('LeaseExpired: the lease of worker ', t.locked_by, ' ran out before it finished') AS error
FROM {{table}} AS t FORCE INDEX (lease_idx)
WHERE t.locked_until < UTC_TIMESTAMP(3) AND t.status = 'running'
ORDER BY t.locked_until
LIMIT ?
FOR UPDATE SKIP LOCKED`;

// Second half of a rescue: the rows are locked by this transaction since the SELECT. An attempt
// whose cancel was requested is expired, not run again. The run history gets the run that was
// cut short: its start is not known here, its end is now.
export const attemptRescueUpdate = `
UPDATE JSON_TABLE(?, '$[*]' COLUMNS (
    attempt_id BIGINT UNSIGNED PATH '$.id',
    locked_by ${text} PATH '$.by',
    error ${text} PATH '$.error')) AS r
  STRAIGHT_JOIN {{table}} AS t FORCE INDEX (PRIMARY) ON t.id = r.attempt_id
SET t.status = CASE WHEN t.cancel_requested_at IS NOT NULL THEN 'expired'
    WHEN t.num_attempts >= t.max_attempts THEN 'failed' ELSE 'pending' END,
  t.pending_queue = CASE WHEN t.cancel_requested_at IS NULL AND t.num_attempts < t.max_attempts
    THEN t.queue END,
  t.completed_at = CASE WHEN t.cancel_requested_at IS NOT NULL
    OR t.num_attempts >= t.max_attempts THEN UTC_TIMESTAMP(3) END,
  t.scheduled_at = CASE WHEN t.cancel_requested_at IS NOT NULL
    OR t.num_attempts >= t.max_attempts THEN t.scheduled_at ELSE UTC_TIMESTAMP(3) END,
  t.last_error = CASE WHEN t.cancel_requested_at IS NOT NULL THEN 'Cancelled' ELSE r.error END,
  t.progress = CASE WHEN t.cancel_requested_at IS NOT NULL OR t.num_attempts >= t.max_attempts
    THEN t.progress END,
  t.progress_message = CASE WHEN t.cancel_requested_at IS NOT NULL
    OR t.num_attempts >= t.max_attempts THEN t.progress_message END,
  t.runs = ${appended(`JSON_OBJECT('n', t.num_attempts, 'by', r.locked_by, 'startedAt', NULL,
    'endedAt', ${epochMs('UTC_TIMESTAMP(3)')},
    'outcome', CASE WHEN t.cancel_requested_at IS NOT NULL THEN 'cancelled'
      ELSE 'lease expired' END,
    'error', CASE WHEN t.cancel_requested_at IS NOT NULL THEN 'Cancelled' ELSE r.error END)`)},
  t.locked_by = NULL, t.locked_until = NULL, t.updated_at = UTC_TIMESTAMP(3)
WHERE t.status = 'running'`;
