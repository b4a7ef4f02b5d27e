// Pieces of SQL text the MySQL statements share (queries.ts, flow-queries.ts).

import { attemptColumns } from '../attempt-rows.js';

/** Epoch milliseconds of a DATETIME(3) holding UTC, independent of every time zone setting. */
export function epochMs(expression: string): string {
  return `TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', ${expression}) DIV 1000`;
}

/**
 * Every column, as the row mapper expects them; the id as text, so 64-bit ids survive. The output
 * names shadow the columns in ORDER BY (MySQL resolves an unqualified ORDER BY name to the
 * select-list alias first, and `id` there is text), so statements order by `t.`-qualified names.
 */
export function columns(alias = ''): string {
  return attemptColumns(alias, (column) => `CAST(${column} AS CHAR) AS id`, epochMs);
}

/** JSON_TABLE's text columns: utf8mb4 whatever the connection's character set, like the table. */
export const text = 'LONGTEXT CHARACTER SET utf8mb4';

/** The attempts named by a JSON array of `{"id": "…", "n": numAttempts}` (n only for leases). */
export const leaseList = `JSON_TABLE(?, '$[*]' COLUMNS (
    attempt_id BIGINT UNSIGNED PATH '$.id',
    num_attempts INT PATH '$.n'))`;

/** The idempotence key of a (target, method, token) triple; the generated column's expression. */
export function idempotenceKey(alias: string): string {
  return `UNHEX(SHA2(CONCAT(${alias}.target, 0x00, ${alias}.method_name, 0x00, ${alias}.idempotence_token), 256))`;
}

// The assignments of a fenced completion that every outcome shares, written once for
// attemptCompleteMany (queries.ts) and attemptCompleteUnsucceededMany (run-queries.ts), whose
// comments say why each is so: a cancel requested meanwhile wins, a retry clears the progress.
export const outcomeAssignments = `t.status = CASE WHEN t.cancel_requested_at IS NULL THEN o.status ELSE 'expired' END,
  t.pending_queue = CASE WHEN o.status = 'pending' AND t.cancel_requested_at IS NULL THEN t.queue END,
  t.completed_at = CASE WHEN o.status = 'pending' AND t.cancel_requested_at IS NULL THEN NULL
    ELSE UTC_TIMESTAMP(3) END,
  t.scheduled_at = CASE WHEN o.status = 'pending' AND t.cancel_requested_at IS NULL
    THEN UTC_TIMESTAMP(3) + INTERVAL o.delay_ms * 1000 MICROSECOND ELSE t.scheduled_at END,
  t.last_error = CASE WHEN t.cancel_requested_at IS NULL THEN COALESCE(o.error, t.last_error)
    ELSE 'Cancelled' END,
  t.progress = CASE WHEN o.status = 'pending' AND t.cancel_requested_at IS NULL THEN NULL
    ELSE t.progress END,
  t.progress_message = CASE WHEN o.status = 'pending' AND t.cancel_requested_at IS NULL THEN NULL
    ELSE t.progress_message END,`;

/** The most priorities one claim statement takes (see dueByPriority): one parameter each. */
export const prioritiesPerClaim = 32;

/**
 * The priorities of a claim statement: `prioritiesPerClaim` parameters before the others, the
 * unused ones null (which match nothing). The server reads one range of the claim index per
 * priority, in order, each from its first due row, so the statement's order is the index's and
 * its LIMIT stops the read.
 */
export const priorityList = `IN (${Array<string>(prioritiesPerClaim).fill('?').join(', ')})`;

/**
 * The first half of a claim (see dueByPriority): `priority` is `priorityList` or
 * `= lowestPendingPriority`; `queueFilter` takes two parameters.
 */
export function claimSelect(priority: string, queueFilter: string): string {
  return `
SELECT ${columns('t.')}, ${epochMs('UTC_TIMESTAMP(3)')} AS db_now
FROM {{table}} AS t FORCE INDEX (due_idx)
WHERE t.status = 'pending'
  AND t.priority ${priority}
  AND t.scheduled_at <= UTC_TIMESTAMP(3)
  AND (t.locked_until IS NULL OR t.locked_until <= UTC_TIMESTAMP(3))
  AND (? IS NULL OR t.scheduled_at <= CAST(? AS DATETIME(3)))
  AND ${queueFilter}
ORDER BY t.priority, t.scheduled_at, t.id
LIMIT ?
FOR UPDATE SKIP LOCKED`;
}

/** Evaluated once per statement, and read off the claim index's edge. */
export const lowestPendingPriority = `(SELECT MIN(p.priority) FROM {{table}} AS p WHERE p.status = 'pending')`;
