// MySQL 8.0.13+ / MariaDB 10.6+ statements, one per behaviour. `{{table}}` is the only substitution:
// the validated, backquoted table name, filled in once per table (see bindStatements).
//
// What both servers share decides the shape: no RETURNING on UPDATE (and none at all on MySQL),
// so a write that must say which rows it touched either runs inside the claim's short
// transaction, or marks its rows with a one-off token in `locked_by` and reads them back by it.
// Lists travel as one JSON parameter read with JSON_TABLE, so every text here but the insert's is
// fixed; the JSON side drives each join (STRAIGHT_JOIN) into a named index (FORCE INDEX), because
// a locking statement that scanned the table instead would lock rows it never meant to touch.
//
// Times are DATETIME(3) in UTC. "Now" is always UTC_TIMESTAMP(3), the server's clock, which no
// session time_zone can shift; times go in as 'YYYY-MM-DD hh:mm:ss.fff' UTC text and come out as
// epoch milliseconds (see `columns`), so neither the client's `timezone` option nor the session's
// time_zone touches a stored value. Parameters are positional `?`, substituted in text order.

import {
  claimSelect,
  columns,
  epochMs,
  idempotenceKey,
  leaseList,
  lowestPendingPriority,
  outcomeAssignments,
  priorityList,
  text,
} from './sql-parts.js';
import { cancelledRunEntry, completedMarker } from './run-queries.js';

// One row per VALUES tuple (attemptInsertManyRow, repeated once per row: the only statement whose
// text depends on its input), inserted and numbered in order, each marked as being enqueued (the
// marker in locked_by, and a hold in locked_until that keeps the claim off it until the marker is
// cleared; see attemptUnmark). The unique idempotence index makes a racing enqueuer of the same
// token wait for the holder's transaction; ON DUPLICATE KEY UPDATE then takes an exclusive lock
// on the existing row (waiters take turns rather than all holding shared locks) and changes
// nothing in it. A duplicate, in the table or earlier in the same batch, is read back by
// attemptGetByTokens. If the holder rolls back while several enqueuers wait, InnoDB's
// duplicate-key locking makes all but one of them deadlock victims (ER_LOCK_DEADLOCK, their
// transactions rolled back, to be retried); still exactly one row.
// VALUES rather than INSERT … SELECT FROM JSON_TABLE: InnoDB counts the latter as a bulk insert,
// which under innodb_autoinc_lock_mode=1 (MariaDB's default) holds the table's AUTO-INC lock
// until the statement ends, so one enqueue waiting on a token would stall every other enqueue.
export const attemptInsertMany = `
INSERT INTO {{table}} (target, method_name, method_args, encryptor, max_attempts, queue, priority,
  idempotence_token, scheduled_at, trace_context, locked_by, locked_until, concurrency_key,
  created_at, updated_at)
VALUES {{rows}}
ON DUPLICATE KEY UPDATE id = id`;

/** One VALUES tuple of attemptInsertMany: thirteen parameters, in the column order above. */
export const attemptInsertManyRow = `(?, ?, ?, ?, ?, ?, ?, ?,
  COALESCE(CAST(? AS DATETIME(3)), UTC_TIMESTAMP(3)), ?, ?, CAST(? AS DATETIME(3)), ?,
  UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))`;

// Debounce (enqueue's replace: 'pending'): attempts still pending that hold these tokens take the
// new arguments, encryptor and due time. Runs right after the insert, whose ON DUPLICATE KEY
// UPDATE already holds an exclusive lock on each such row until the caller commits: a claim
// (SKIP LOCKED) passes them by and later runs the new arguments. A claim that locked a row first
// made the insert wait for its commit, and an UPDATE reads the newest committed version: the row
// is running, and left alone. Through the unique index only, so it locks just these rows.
export const attemptReplacePending = `
UPDATE JSON_TABLE(?, '$[*]' COLUMNS (
    target ${text} PATH '$.target',
    method_name ${text} PATH '$.methodName',
    idempotence_token ${text} PATH '$.idempotenceToken',
    method_args ${text} PATH '$.methodArgs',
    encryptor ${text} PATH '$.encryptor',
    scheduled_at VARCHAR(32) PATH '$.scheduledAt')) AS k
  STRAIGHT_JOIN {{table}} AS t FORCE INDEX (idempotence_idx)
    ON t.idempotence_key = ${idempotenceKey('k')}
SET t.method_args = k.method_args, t.encryptor = k.encryptor,
  t.scheduled_at = COALESCE(CAST(k.scheduled_at AS DATETIME(3)), UTC_TIMESTAMP(3)),
  t.updated_at = UTC_TIMESTAMP(3)
WHERE t.status = 'pending'`;

// The rows one attemptInsertMany marked, through the lease index (the marker's hold is its key).
// A plain read: it takes no lock, and a transaction always sees its own writes.
export const attemptGetMarked = `
SELECT ${columns('t.')} FROM {{table}} AS t FORCE INDEX (lease_idx)
WHERE t.locked_until = CAST(? AS DATETIME(3)) AND t.locked_by = ?
ORDER BY t.id`;

// The rows holding these idempotence keys, newest committed version: a locking read, because
// under REPEATABLE READ a plain one would show the caller's snapshot, which may predate the
// winner's commit. Through the unique index only, so it locks exactly the rows asked for (the
// insert above already holds them; a scan could wait on other enqueuers' uncommitted rows).
export const attemptGetByTokens = `
SELECT ${columns('t.')}
FROM JSON_TABLE(?, '$[*]' COLUMNS (
    target ${text} PATH '$.target',
    method_name ${text} PATH '$.methodName',
    idempotence_token ${text} PATH '$.idempotenceToken')) AS k
  STRAIGHT_JOIN {{table}} AS t FORCE INDEX (idempotence_idx)
    ON t.idempotence_key = ${idempotenceKey('k')}
LOCK IN SHARE MODE`;

// Clears the marker of the rows this operation marked, by primary key (row locks only, no gap
// locks); rows someone else changed since (a claimer after a hold ran out) no longer carry it.
export const attemptUnmark = `
UPDATE ${leaseList} AS m
  STRAIGHT_JOIN {{table}} AS t FORCE INDEX (PRIMARY) ON t.id = m.attempt_id
SET t.locked_by = NULL, t.locked_until = NULL
WHERE t.locked_by = ?`;

// Which of these attempts carry this operation's marker. A plain read by primary key.
export const attemptGetMarkedIds = `
SELECT CAST(t.id AS CHAR) AS id
FROM ${leaseList} AS m
  STRAIGHT_JOIN {{table}} AS t FORCE INDEX (PRIMARY) ON t.id = m.attempt_id
WHERE t.locked_by = ?`;

// A plain read: the last committed state (or the caller's own writes, in its transaction). With
// the run history, which only get and list read (migration 0006).
export const attemptGet = `SELECT ${columns('t.')}, t.runs FROM {{table}} AS t WHERE t.id = CAST(? AS UNSIGNED)`;

// A plain read, for the rows this operation just wrote under its own locks (rescue), with their
// run history.
export const attemptGetByIds = `
SELECT ${columns('t.')}, t.runs
FROM ${leaseList} AS m
  STRAIGHT_JOIN {{table}} AS t FORCE INDEX (PRIMARY) ON t.id = m.attempt_id
ORDER BY t.id`;

// Newest first; every filter optional. Pages by id (keyset), never by offset. A plain read. The
// token and the method are compared as bytes: utf8mb4_bin ignores trailing spaces (PAD SPACE), so
// 'o-9' found the attempts of 'o-9 ' too, where the unique key (a hash) keeps them apart, and
// method 'send' those of 'send ' (target and queue names cannot end in a space). A token with
// its target and method is also looked up by that hash, through its unique index (the columns
// have no index of their own: a scan of the table).
export const attemptList = `
SELECT ${columns('t.')}, t.runs FROM {{table}} AS t
WHERE (? IS NULL OR t.status = ?)
  AND (? IS NULL OR t.target = ?)
  AND (? IS NULL OR CAST(t.method_name AS BINARY) = CAST(? AS BINARY))
  AND (? IS NULL OR t.queue = ?)
  AND (? IS NULL OR t.id < CAST(? AS UNSIGNED))
  AND (? IS NULL OR CAST(t.idempotence_token AS BINARY) = CAST(? AS BINARY))
  AND (? IS NULL OR t.id > CAST(? AS UNSIGNED))
  AND (? IS NULL OR t.idempotence_key = UNHEX(SHA2(CONCAT(CAST(? AS CHAR CHARACTER SET utf8mb4),
    0x00, CAST(? AS CHAR CHARACTER SET utf8mb4), 0x00, CAST(? AS CHAR CHARACTER SET utf8mb4)), 256)))
ORDER BY t.id DESC
LIMIT ?`;

// Final outcomes per minute over the last hour (the dashboard's charts). No index on
// completed_at (one would cost every completion): a scan of the table. A plain read.
export const attemptOutcomesLastHour = `
SELECT (${epochMs('t.completed_at')} DIV 60000) * 60000 AS minute, t.status, COUNT(*) AS count
FROM {{table}} AS t
WHERE t.completed_at >= UTC_TIMESTAMP(3) - INTERVAL 1 HOUR
  AND t.status IN ('succeeded', 'failed')
GROUP BY minute, t.status`;

// First half of a claim, inside its transaction, for one priority (see dueByPriority): FOR UPDATE
// SKIP LOCKED, so concurrent claimers each lock different rows and never wait on each other (nor
// on rows still being enqueued, which are locked by their uncommitted insert). Rows under a
// marker's hold (an enqueue or a release still reading its rows back) are left alone. Also reads
// the server's clock, which the second half uses for the lease. The first walks the lowest
// priority with pending rows, which a busy queue's claim seldom goes past.
const claimQueues = '(? IS NULL OR JSON_CONTAINS(?, JSON_QUOTE(t.queue)))';
export const attemptClaimSelectFirst = claimSelect(`= ${lowestPendingPriority}`, claimQueues);
export const attemptClaimSelect = claimSelect(priorityList, claimQueues);

// The lowest priority with pending rows, read off the claim index's edge: where a claim of some
// queues starts (queue-claim.ts), and the priority a limited claim's first look read when it
// took nothing (flow-room.ts).
export const attemptLowestPendingPriority = `SELECT ${lowestPendingPriority} AS priority`;

// The lowest priorities above ? (null: above the lowest pending one, which a claim's first
// statement read) with a row due by now and by the horizon (?; null: none), at most ?: a loose
// scan of the
// claim index, one step to each pending priority's first due row, so a priority whose rows are
// all scheduled for later costs an index step, not a statement (see dueByPriority). MIN() over
// the column after the grouped ones is what the server reads so; without it, it walked every
// entry (505,001 for 4,000 priorities of 100 rows tomorrow, 8,002 with it). The rows under a
// marker's hold count as due here: the pass leaves them out.
export const attemptNextDuePriority = `
SELECT t.priority, MIN(t.scheduled_at) AS first_due FROM {{table}} AS t FORCE INDEX (due_idx)
WHERE t.status = 'pending' AND t.priority > COALESCE(?, ${lowestPendingPriority})
  AND t.scheduled_at <= LEAST(UTC_TIMESTAMP(3), COALESCE(CAST(? AS DATETIME(3)), UTC_TIMESTAMP(3)))
GROUP BY t.status, t.priority
ORDER BY t.status, t.priority
LIMIT ?`;

// Second half of a claim: the rows are locked by this transaction since the SELECT, so the lease
// is set without a fence and no other worker can have seen them as pending in between.
export const attemptClaimUpdate = `
UPDATE ${leaseList} AS c
  STRAIGHT_JOIN {{table}} AS t FORCE INDEX (PRIMARY) ON t.id = c.attempt_id
SET t.status = 'running', t.pending_queue = NULL, t.num_attempts = t.num_attempts + 1,
  t.locked_by = ?,
  t.locked_until = CAST(? AS DATETIME(3)), t.updated_at = CAST(? AS DATETIME(3))`;

// Fenced: a row is written only while still running under this lease and this attempt count,
// so a worker that lost its lease (rescued, re-claimed elsewhere) cannot overwrite the outcome.
// Row locks by primary key only. The written rows carry this call's marker (and a hold) until
// attemptUnmark, which is how the caller learns which were written without RETURNING and without
// a transaction of its own (completion also runs inside ctx.transaction); those a cancel request
// turned expired carry a second marker. Each assignment reads
// only the JSON row, its own column, the queue and cancel_requested_at (which none assigns):
// MySQL orders a multi-table UPDATE's assignments freely. A row whose cancel was requested ends
// expired whatever the run said (a retry would run a cancelled task); the UPDATE reads the latest
// committed row.
export const attemptCompleteMany = `
UPDATE JSON_TABLE(?, '$[*]' COLUMNS (
    attempt_id BIGINT UNSIGNED PATH '$.id',
    num_attempts INT PATH '$.n',
    status VARCHAR(16) PATH '$.status',
    delay_ms BIGINT PATH '$.delayMs',
    error ${text} PATH '$.error')) AS o
  STRAIGHT_JOIN {{table}} AS t FORCE INDEX (PRIMARY) ON t.id = o.attempt_id
SET ${outcomeAssignments}
  t.runs = ${cancelledRunEntry},
  t.locked_by = ${completedMarker}, t.locked_until = CAST(? AS DATETIME(3)),
  t.updated_at = UTC_TIMESTAMP(3)
WHERE t.status = 'running' AND t.locked_by = ? AND t.num_attempts = o.num_attempts`;

// Fenced like completion; rows whose lease was lost are not touched (attemptGetHeld tells).
export const attemptExtendLeases = `
UPDATE ${leaseList} AS l
  STRAIGHT_JOIN {{table}} AS t FORCE INDEX (PRIMARY) ON t.id = l.attempt_id
SET t.locked_until = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND
WHERE t.status = 'running' AND t.locked_by = ? AND t.num_attempts = l.num_attempts`;

// Which of these leases this worker still holds. A plain read by primary key, after the extend:
// a held lease was extended by it, and only this worker can end it (or the rescuer, once expired).
export const attemptGetHeld = `
SELECT CAST(t.id AS CHAR) AS id
FROM ${leaseList} AS l
  STRAIGHT_JOIN {{table}} AS t FORCE INDEX (PRIMARY) ON t.id = l.attempt_id
WHERE t.status = 'running' AND t.locked_by = ? AND t.num_attempts = l.num_attempts`;

// Fenced; undoes the claim's count so a shutdown does not burn an attempt. Marks several rows like
// completion does; the marker's hold keeps claimers off them until they are unmarked. One whose
// cancel was requested ends expired instead of pending (handed back, it would run again).
export const attemptReleaseMany = `
UPDATE ${leaseList} AS l
  STRAIGHT_JOIN {{table}} AS t FORCE INDEX (PRIMARY) ON t.id = l.attempt_id
SET t.status = CASE WHEN t.cancel_requested_at IS NULL THEN 'pending' ELSE 'expired' END,
  t.pending_queue = CASE WHEN t.cancel_requested_at IS NULL THEN t.queue END,
  t.num_attempts = t.num_attempts - 1,
  t.completed_at = CASE WHEN t.cancel_requested_at IS NOT NULL THEN UTC_TIMESTAMP(3) END,
  t.last_error = CASE WHEN t.cancel_requested_at IS NULL THEN t.last_error ELSE 'Cancelled' END,
  t.locked_by = ?,
  t.locked_until = CAST(? AS DATETIME(3)),
  t.progress = CASE WHEN t.cancel_requested_at IS NULL THEN NULL ELSE t.progress END,
  t.progress_message = CASE WHEN t.cancel_requested_at IS NULL THEN NULL ELSE t.progress_message END,
  t.updated_at = UTC_TIMESTAMP(3)
WHERE t.status = 'running' AND t.locked_by = ? AND t.num_attempts = l.num_attempts`;

// A handler's progress (ctx.progress), fenced like completion: written only while this worker
// still holds this run, so a run whose lease was lost writes nothing. One row by primary key.
export const attemptSetProgress = `
UPDATE {{table}} SET progress = ?, progress_message = ?
WHERE id = CAST(? AS UNSIGNED) AND status = 'running' AND locked_by = ? AND num_attempts = ?`;

// Only from pending: the row lock taken by the UPDATE makes the check and the write one step.
export const attemptSetFinalIfPending = `
UPDATE {{table}} SET status = ?, pending_queue = NULL, completed_at = UTC_TIMESTAMP(3),
  updated_at = UTC_TIMESTAMP(3)
WHERE id = CAST(? AS UNSIGNED) AND status = 'pending'`;

// Gives an exhausted attempt room for one more run, due now (and clears a marker a crashed
// completion may have left, whose hold would otherwise keep the claim off it for a minute, and a
// cancel request of its last run).
// A completion's marker stays (with its hold, which keeps claims off the row): the completing
// worker is about to read it back to learn what it wrote, and a cancel request's outcome is told
// by it; its unmark clears it a moment later. Cleared here, the worker reported the handler's
// outcome for a run recorded cancelled. locked_until first: it reads the marker before the
// assignment to locked_by (MySQL assigns from left to right).
export const attemptSetPendingIfFinished = `
UPDATE {{table}} SET status = 'pending', pending_queue = queue, completed_at = NULL,
  scheduled_at = UTC_TIMESTAMP(3),
  cancel_requested_at = NULL,
  max_attempts = GREATEST(max_attempts, num_attempts + 1),
  locked_until = IF(locked_by LIKE 'async-task:complete:%', locked_until, NULL),
  locked_by = IF(locked_by LIKE 'async-task:complete:%', locked_by, NULL),
  progress = NULL, progress_message = NULL, updated_at = UTC_TIMESTAMP(3)
WHERE id = CAST(? AS UNSIGNED) AND status IN ('failed', 'expired')`;

// One batch of a manual prune's candidates, without locks, along the primary key from where the
// last batch stopped: a prune reads the table once. The status-led index it walked before was
// read again from its start by every batch, through the finished attempts too recent to go
// (1,100 deleted a second on MariaDB with 14 days of failures kept).
export const attemptPruneSelect = `
SELECT CAST(t.id AS CHAR) AS id FROM {{table}} AS t FORCE INDEX (PRIMARY)
WHERE t.id > CAST(? AS UNSIGNED) AND t.status IN ('succeeded', 'failed', 'expired')
  AND t.completed_at < CAST(? AS DATETIME(3))
ORDER BY t.id
LIMIT ?`;

// Deletes the candidates by primary key, checking the condition again under the row lock, so a
// row retried since the SELECT stays.
export const attemptPruneDelete = `
DELETE t
FROM ${leaseList} AS p
  STRAIGHT_JOIN {{table}} AS t FORCE INDEX (PRIMARY) ON t.id = p.attempt_id
WHERE t.status IN ('succeeded', 'failed', 'expired') AND t.completed_at < CAST(? AS DATETIME(3))`;

/**
 * The GET_LOCK name of this table's pruning (parameters: the database, or null for the session's,
 * and the table name). Named locks are server-wide and at most 64 characters: hashed, like the
 * migration lock's, under a prefix of its own.
 */
const pruneLockName = `CONCAT('async_task_prune:',
  LEFT(SHA2(CONCAT(COALESCE(?, DATABASE(), ''), '.', ?), 256), 40))`;

// The retention sweep's try-lock (see src/worker/pruner.ts): one process prunes the table at a
// time. Held by the session, so taken and released inside the window's own transaction, which
// keeps one connection for both whatever the client (Prisma has no other way to pin one); a
// process that dies holding it loses it with its connection.
export const attemptPruneLock = `SELECT GET_LOCK(${pruneLockName}, 0) AS acquired`;
export const attemptPruneUnlock = `SELECT RELEASE_LOCK(${pruneLockName}) AS released`;

/** Whether attempt `t` is finished and older than its status's retention (three ages, in µs). */
const pastRetention = `((t.status = 'succeeded' AND t.completed_at < UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND)
    OR (t.status = 'failed' AND t.completed_at < UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND)
    OR (t.status = 'expired' AND t.completed_at < UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND))`;

// One window of the retention sweep: the next attempts of any status along the primary key, a
// bounded range read whatever the table's size (ids follow age; no index on completed_at, which
// would cost every completion). A plain read, so it locks nothing, not even the pending and
// running rows it steps over. `recent`: created less than the shortest retention ago, so no
// later attempt can be old enough yet. A NULL age keeps that status.
export const attemptPruneWindowSelect = `
SELECT CAST(t.id AS CHAR) AS id, ${pastRetention} AS prunable,
  t.created_at >= UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND AS recent
FROM {{table}} AS t FORCE INDEX (PRIMARY)
WHERE t.id > CAST(? AS UNSIGNED)
ORDER BY t.id
LIMIT ?`;

// Deletes the window's candidates by primary key, so it locks only them, checking the condition
// again under the row lock: a row retried since the read stays.
export const attemptPruneWindowDelete = `
DELETE t
FROM ${leaseList} AS p
  STRAIGHT_JOIN {{table}} AS t FORCE INDEX (PRIMARY) ON t.id = p.attempt_id
WHERE ${pastRetention}`;

// Exact counts for every (status, queue) present: a plain read that scans the table. For small
// tables only (see the executor); large ones are counted by attemptStatsEstimated.
export const attemptStats = `
SELECT t.status, t.queue, COUNT(*) AS count FROM {{table}} AS t GROUP BY t.status, t.queue`;

// Decides how stats() counts: the table's size as InnoDB estimates it, and the range of ids
// (both ends of the primary key). Parameters: the database (null: the session's) and the name.
export const attemptStatsSize = `
SELECT s.DATA_LENGTH AS bytes,
  (SELECT CAST(MIN(t.id) AS CHAR) FROM {{table}} AS t) AS min_id,
  (SELECT CAST(MAX(t.id) AS CHAR) FROM {{table}} AS t) AS max_id
FROM information_schema.TABLES AS s
WHERE s.TABLE_SCHEMA = COALESCE(?, DATABASE()) AND s.TABLE_NAME = ?`;

// Stats of a large table, without reading it whole; plain reads. Pending, running, failed and
// expired attempts are counted exactly from the claim index alone (it leads with the status and
// ends with the queue: no row is looked up). Succeeded attempts, the bulk, are left to an
// estimate: rows marked `sampled` count every status in evenly spaced ranges of ids (a JSON array
// of {lo, hi}), each a short primary-key range read.
export const attemptStatsEstimated = `
SELECT t.status, t.queue, COUNT(*) AS count, 0 AS sampled
FROM {{table}} AS t FORCE INDEX (due_idx)
WHERE t.status IN ('pending', 'running', 'failed', 'expired')
GROUP BY t.status, t.queue
UNION ALL
SELECT t.status, t.queue, COUNT(*), 1
FROM JSON_TABLE(?, '$[*]' COLUMNS (
    lo BIGINT UNSIGNED PATH '$.lo',
    hi BIGINT UNSIGNED PATH '$.hi')) AS w
  STRAIGHT_JOIN {{table}} AS t FORCE INDEX (PRIMARY) ON t.id >= w.lo AND t.id < w.hi
GROUP BY t.status, t.queue`;

// async-task/testing's clock: every pending attempt comes due ? microseconds (the milliseconds
// asked for, times 1000) sooner, as if that much time had passed. Row locks as any UPDATE.
export const attemptShiftScheduled = `
UPDATE {{table}} SET scheduled_at = scheduled_at - INTERVAL ? MICROSECOND
WHERE status = 'pending'`;
