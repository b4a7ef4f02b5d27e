// PostgreSQL statements that append to an attempt's run history (migration 0010): the completion
// of runs that did not succeed, and the rescue of expired leases. Succeeded runs keep their own
// statement, attemptCompleteMany in queries.ts, which touches no history.

import { attemptColumns } from '../attempt-rows.js';
import { outcomeAssignments } from './sql-parts.js';

/** Every column as the row mapper expects them (as queries.ts's `columns`). */
const columns = attemptColumns(
  't.',
  (column) => column,
  (column) => `(extract(epoch FROM ${column}) * 1000)::float8`,
);

/**
 * `runs` with `entry` (a jsonb object) appended, keeping at most 20 entries: every entry is
 * appended here, one at a time, so dropping the oldest once there are 20 keeps the bound.
 */
function appended(entry: string): string {
  return `CASE WHEN jsonb_array_length(coalesce(t.runs, '[]'::jsonb)) >= 20 THEN t.runs - 0
    ELSE coalesce(t.runs, '[]'::jsonb) END || jsonb_build_array(${entry})`;
}

/**
 * `runs` as a success's completion (attemptCompleteMany, queries.ts) leaves it: unchanged, unless
 * a cancel request turned the success into `expired`; then with the cancelled run's entry, whose
 * start the success path does not carry.
 */
export const cancelledRunEntry = `CASE WHEN t.cancel_requested_at IS NULL THEN t.runs ELSE
  ${appended(`jsonb_build_object('n', o.num_attempts, 'by', $1::text, 'startedAt', NULL,
    'endedAt', round(extract(epoch FROM statement_timestamp()) * 1000), 'outcome', 'cancelled',
    'error', 'Cancelled')`)} END`;

// attemptCompleteMany (queries.ts) for runs that did not succeed, with the same fence, the same
// assignments and the same reasoning about plans and cancel requests, plus one: an entry for the
// run history. `by` is the lease holder the fence matched ($1); n, the attempt count it matched.
// The entry's error is what last_error becomes.
export const attemptCompleteUnsucceededMany = `
UPDATE {{table}} AS t
SET ${outcomeAssignments}
  runs = ${appended(`jsonb_build_object('n', o.num_attempts, 'by', $1::text,
    'startedAt', o.started_at_ms,
    'endedAt', coalesce(o.ended_at_ms, round(extract(epoch FROM now()) * 1000)),
    'outcome', CASE WHEN t.cancel_requested_at IS NOT NULL OR o.status = 'expired' THEN 'cancelled'
      WHEN o.status = 'pending' THEN 'retried' ELSE 'failed' END,
    'error', CASE WHEN t.cancel_requested_at IS NULL THEN coalesce(o.error, t.last_error)
      ELSE 'Cancelled' END)`)},
  locked_by = NULL, locked_until = NULL, updated_at = now()
FROM json_to_recordset($2::json)
  AS o(id bigint, num_attempts int, status text, delay_ms bigint, error text,
    started_at_ms float8, ended_at_ms float8)
WHERE t.id = o.id
  AND CASE WHEN t.status = 'running' AND t.locked_by = $1 THEN t.num_attempts END
    = o.num_attempts
RETURNING t.id, t.status`;

// SKIP LOCKED so concurrent rescuers split the work; a worker completing the same row at the
// same moment either wins (row no longer running) or finds its fence gone. An attempt whose
// cancel was requested is expired, not run again. The run history gets the run that was cut
// short: its start is not known here, its end is now. SET reads the row as it was, so locked_by
// and last_error in the entry are the dead lease's.
export const attemptRescueExpired = `
UPDATE {{table}} AS t
SET status = CASE WHEN t.cancel_requested_at IS NOT NULL THEN 'expired'
    WHEN t.num_attempts >= t.max_attempts THEN 'failed' ELSE 'pending' END,
  completed_at = CASE WHEN t.cancel_requested_at IS NOT NULL OR t.num_attempts >= t.max_attempts
    THEN now() END,
  scheduled_at = CASE WHEN t.cancel_requested_at IS NOT NULL OR t.num_attempts >= t.max_attempts
    THEN t.scheduled_at ELSE now() END,
  last_error = CASE WHEN t.cancel_requested_at IS NOT NULL THEN 'Cancelled'
    ELSE 'LeaseExpired: the lease of worker ' || t.locked_by || ' ran out before it finished' END,
  progress = CASE WHEN t.cancel_requested_at IS NOT NULL OR t.num_attempts >= t.max_attempts
    THEN t.progress END,
  progress_message = CASE WHEN t.cancel_requested_at IS NOT NULL
    OR t.num_attempts >= t.max_attempts THEN t.progress_message END,
  runs = ${appended(`jsonb_build_object('n', t.num_attempts, 'by', t.locked_by,
    'startedAt', NULL, 'endedAt', round(extract(epoch FROM now()) * 1000),
    'outcome', CASE WHEN t.cancel_requested_at IS NOT NULL THEN 'cancelled'
      ELSE 'lease expired' END,
    'error', CASE WHEN t.cancel_requested_at IS NOT NULL THEN 'Cancelled'
      ELSE 'LeaseExpired: the lease of worker ' || t.locked_by || ' ran out before it finished'
      END)`)},
  locked_by = NULL, locked_until = NULL, updated_at = now()
WHERE t.id = ANY(ARRAY(
  SELECT id FROM {{table}}
  WHERE locked_until < now() AND status = 'running'
  ORDER BY locked_until
  LIMIT $1
  FOR NO KEY UPDATE SKIP LOCKED))
RETURNING ${columns}, t.runs`;
