// SQLite statements that append to an attempt's run history (migration 0006): the completion of
// runs that did not succeed, and the rescue of expired leases. Succeeded runs keep their own
// statement, attemptCompleteMany in queries.ts, which touches no history. Locking as queries.ts
// says: each is one statement under the write lock.
import { columns, nowMs, outcomeAssignments } from './sql-parts.js';

/**
 * `runs` with `entry` (a JSON object) appended, keeping at most 20 entries: every entry is
 * appended here, one at a time, so dropping the oldest once there are 20 keeps the bound.
 */
function appended(runs: string, entry: string): string {
  return `json_insert(CASE WHEN json_array_length(coalesce(${runs}, '[]')) >= 20
      THEN json_remove(${runs}, '$[0]') ELSE coalesce(${runs}, '[]') END,
    '$[#]', ${entry})`;
}

/**
 * `runs` as a success's completion (attemptCompleteMany, queries.ts) leaves it: unchanged, unless
 * a cancel request turned the success into `expired`; then with the cancelled run's entry, whose
 * start the success path does not carry.
 */
export const cancelledRunEntry = `CASE WHEN t.cancel_requested_at IS NULL THEN t.runs ELSE
  ${appended(
    't.runs',
    `json_object('n', o.num_attempts, 'by', ?1, 'startedAt', NULL, 'endedAt', ${nowMs},
      'outcome', 'cancelled', 'error', 'Cancelled')`,
  )} END`;

// attemptCompleteMany (queries.ts) for runs that did not succeed: the same fence and the same
// assignments, plus an entry for the run history. `by` is the lease holder the fence matched
// (?1); n, the attempt count it matched. The entry's error is what last_error becomes.
export const attemptCompleteUnsucceededMany = `
UPDATE {{table}} AS t
SET ${outcomeAssignments}
  runs = ${appended(
    't.runs',
    `json_object('n', o.num_attempts, 'by', ?1, 'startedAt', o.started_at,
    'endedAt', coalesce(o.ended_at, ${nowMs}),
    'outcome', CASE WHEN t.cancel_requested_at IS NOT NULL OR o.status = 'expired' THEN 'cancelled'
      WHEN o.status = 'pending' THEN 'retried' ELSE 'failed' END,
    'error', CASE WHEN t.cancel_requested_at IS NULL THEN coalesce(o.error, t.last_error)
      ELSE 'Cancelled' END)`,
  )},
  locked_by = NULL, locked_until = NULL, updated_at = ${nowMs}
FROM (
  SELECT CAST(value ->> 'id' AS INTEGER) AS id, value ->> 'numAttempts' AS num_attempts,
    value ->> 'status' AS status, value ->> 'delayMs' AS delay_ms, value ->> 'error' AS error,
    value ->> 'startedAt' AS started_at, value ->> 'endedAt' AS ended_at
  FROM json_each(?2)) AS o
WHERE t.id = o.id AND +t.status = 'running' AND t.locked_by = ?1 AND t.num_attempts = o.num_attempts
RETURNING CAST(id AS TEXT) AS id, status`;

// One statement under the write lock, so concurrent rescuers never hand back the same row twice;
// a worker completing the same row either committed first (row no longer running) or finds its
// fence gone. An attempt whose cancel was requested is expired, not run again. The run history
// gets the run that was cut short: its start is not known here, its end is now. SET reads the
// row as it was, so locked_by in the entry is the dead lease's.
export const attemptRescueExpired = `
UPDATE {{table}}
SET status = CASE WHEN cancel_requested_at IS NOT NULL THEN 'expired'
    WHEN num_attempts >= max_attempts THEN 'failed' ELSE 'pending' END,
  completed_at = CASE WHEN cancel_requested_at IS NOT NULL OR num_attempts >= max_attempts
    THEN ${nowMs} END,
  scheduled_at = CASE WHEN cancel_requested_at IS NOT NULL OR num_attempts >= max_attempts
    THEN scheduled_at ELSE ${nowMs} END,
  last_error = CASE WHEN cancel_requested_at IS NOT NULL THEN 'Cancelled'
    ELSE 'LeaseExpired: the lease of worker ' || locked_by || ' ran out before it finished' END,
  progress = CASE WHEN cancel_requested_at IS NOT NULL OR num_attempts >= max_attempts
    THEN progress END,
  progress_message = CASE WHEN cancel_requested_at IS NOT NULL OR num_attempts >= max_attempts
    THEN progress_message END,
  runs = ${appended(
    'runs',
    `json_object('n', num_attempts, 'by', locked_by, 'startedAt', NULL, 'endedAt', ${nowMs},
    'outcome', CASE WHEN cancel_requested_at IS NOT NULL THEN 'cancelled' ELSE 'lease expired' END,
    'error', CASE WHEN cancel_requested_at IS NOT NULL THEN 'Cancelled'
      ELSE 'LeaseExpired: the lease of worker ' || locked_by || ' ran out before it finished' END)`,
  )},
  locked_by = NULL, locked_until = NULL, updated_at = ${nowMs}
WHERE id IN (
  SELECT id FROM {{table}} INDEXED BY "{{name}}_lease_idx"
  WHERE status = 'running' AND locked_until < ${nowMs}
  ORDER BY locked_until
  LIMIT ?1)
RETURNING ${columns}, runs`;
