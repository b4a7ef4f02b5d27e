// Cancellation's statements (tasks.cancel and the worker's look at the attempts it holds), beside
// queries.ts, whose conventions they follow.
import { leaseList } from './sql-parts.js';

// First half of a cancel, inside its transaction: locks the row while it is pending or running.
// A claim holding it is waited for (the row is then running); a later claim skips it (SKIP
// LOCKED) and, once this commits, no longer sees it pending.
export const attemptCancelLock = `
SELECT t.status FROM {{table}} AS t
WHERE t.id = CAST(? AS UNSIGNED) AND t.status IN ('pending', 'running')
FOR UPDATE`;

// Second half of a cancel, the row locked: pending → expired; running → marked for its worker's
// next look (the first request's time kept). A single-table UPDATE assigns left to right, so
// status, which the others read, goes last.
export const attemptCancel = `
UPDATE {{table}} SET
  completed_at = CASE WHEN status = 'pending' THEN UTC_TIMESTAMP(3) ELSE completed_at END,
  last_error = CASE WHEN status = 'pending' THEN 'Cancelled' ELSE last_error END,
  cancel_requested_at = CASE WHEN status = 'running'
    THEN COALESCE(cancel_requested_at, UTC_TIMESTAMP(3)) END,
  updated_at = UTC_TIMESTAMP(3),
  pending_queue = NULL,
  status = CASE WHEN status = 'pending' THEN 'expired' ELSE status END
WHERE id = CAST(? AS UNSIGNED)`;

// The held attempts whose cancel was requested: primary-key lookups, a plain read.
export const attemptListCancelRequested = `
SELECT CAST(t.id AS CHAR) AS id
FROM ${leaseList} AS l
  STRAIGHT_JOIN {{table}} AS t FORCE INDEX (PRIMARY) ON t.id = l.attempt_id
WHERE t.num_attempts = l.num_attempts AND t.cancel_requested_at IS NOT NULL
  AND t.status = 'running'`;
