/** Every column, as the row mapper expects them. */
export const columns = `CAST(id AS TEXT) AS id, target, method_name, method_args, encryptor, status,
  num_attempts, max_attempts, queue, priority, idempotence_token, scheduled_at, completed_at,
  locked_by, locked_until, last_error, progress, progress_message, created_at, updated_at,
  trace_context`;

/** The current time in whole milliseconds, as SQLite tells it. */
export const nowMs = `CAST(round(unixepoch('subsec') * 1000) AS INTEGER)`;

/** The claim's time: the parameter ?n once a claim's first pass has set it, else now. */
export const claimNow = (n: number): string => `coalesce(?${n}, ${nowMs})`;

/** The lowest priority with pending rows, read off the due index's edge (a claim's first walk). */
export const lowestPendingPriority =
  "(SELECT min(priority) FROM {{table}} WHERE status = 'pending')";

/**
 * The priorities of a claim statement (attemptClaim and its kin, queries.ts and
 * queue-claim-queries.ts): those of the JSON array ?6, or (null) the lowest with pending rows.
 * SQLite searches the index once per priority, in ascending order, so the statement's order is
 * the index's and its LIMIT stops the read.
 */
export const claimedPriorities = `SELECT value FROM json_each(
      coalesce(?6, json_array(${lowestPendingPriority})))`;

/**
 * The rows of a claim (attemptClaim and its kin): pending, of the priorities ?6 (see
 * claimedPriorities), due at the claim's time ?7 and by the horizon ?4.
 */
export const dueOfPriority = `status = 'pending'
    AND priority IN (${claimedPriorities})
    AND scheduled_at <= ${claimNow(7)}
    AND (?4 IS NULL OR scheduled_at <= ?4)`;

/**
 * A claim's statement: leases the rows `chosen` selects (ids), to the worker ?1 for ?3 ms from
 * the claim's time ?7, and returns them.
 */
export const leaseChosen = (chosen: string): string => `
UPDATE {{table}}
SET status = 'running', num_attempts = num_attempts + 1, locked_by = ?1,
  locked_until = ${claimNow(7)} + ?3, updated_at = ${claimNow(7)}
WHERE id IN (${chosen})
RETURNING ${columns}, ${claimNow(7)} AS db_now`;

// The assignments of a fenced completion that every outcome shares, written once for
// attemptCompleteMany (queries.ts) and attemptCompleteUnsucceededMany (run-queries.ts), whose
// comments say why each is so: a cancel requested meanwhile wins, a retry clears the progress.
export const outcomeAssignments = `status = CASE WHEN t.cancel_requested_at IS NULL THEN o.status ELSE 'expired' END,
  completed_at = CASE WHEN o.status = 'pending' AND t.cancel_requested_at IS NULL THEN NULL
    ELSE ${nowMs} END,
  scheduled_at = CASE WHEN o.status = 'pending' AND t.cancel_requested_at IS NULL
    THEN ${nowMs} + o.delay_ms ELSE t.scheduled_at END,
  last_error = CASE WHEN t.cancel_requested_at IS NULL THEN coalesce(o.error, t.last_error)
    ELSE 'Cancelled' END,
  progress = CASE WHEN o.status = 'pending' AND t.cancel_requested_at IS NULL THEN NULL
    ELSE t.progress END,
  progress_message = CASE WHEN o.status = 'pending' AND t.cancel_requested_at IS NULL THEN NULL
    ELSE t.progress_message END,`;

/**
 * The end of both limited claims (attemptClaimLimited in queries.ts, attemptClaimLimitedByKey in
 * key-walk-queries.ts), with their parameters: at most ?2 rows, less the queue's running attempts
 * under its concurrency ?6 (NULL: none) and, for a rate limit ?9 across the queue (not per key,
 * ?11), its starts within the last ?10 ms; clamped at 0 (SQLite reads a negative LIMIT as none).
 */
export const limitedClaimEnd = `  LIMIT max(0, min(?2, coalesce(?6 - (
    SELECT count(*) FROM {{table}} INDEXED BY "{{name}}_lease_idx"
    WHERE status = 'running' AND queue = ?5), ?2),
    CASE WHEN ?9 IS NOT NULL AND NOT ?11 THEN ?9 - (
      SELECT count(*) FROM "{{name}}_starts"
      WHERE queue = ?5 AND started_at > ${claimNow(14)} - ?10)
    ELSE ?2 END)))
RETURNING ${columns}, ${claimNow(14)} AS db_now`;
