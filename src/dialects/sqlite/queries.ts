// SQLite statements, one per behaviour. The only substitutions are `{{table}}`, the validated,
// double-quoted table name, and `{{name}}`, the bare name that prefixes its index names (for
// INDEXED BY, which pins the plan the claim and the rescue are written for), filled in once per
// table (see bindStatements).
//
// Locking, once for all of them: SQLite has one writer per database file. Every write below is a
// single statement that takes the write lock when it starts (in autocommit mode, or inside the
// driver's BEGIN IMMEDIATE), reads the newest committed state under it, and commits before any
// other connection or process can write. That is what SKIP LOCKED buys on PostgreSQL, with
// waiting instead of skipping: two claimers never see the same pending row, because the second
// one only starts once the first has committed its lease.
//
// Times are INTEGER milliseconds since the epoch. "Now" is always `nowMs`, SQLite's clock (which
// is the process's clock); it is fixed for the length of one statement. Parameters are numbered
// here (`?1`, some used twice); bindStatements sends plain `?` with the parameters in that order,
// which every client binds from an array. Lists travel as one JSON text read with json_each.
import {
  claimNow,
  columns,
  dueOfPriority,
  leaseChosen,
  limitedClaimEnd,
  nowMs,
  outcomeAssignments,
} from './sql-parts.js';
import { cancelledRunEntry } from './run-queries.js';

// One row per element of the JSON array ?1, in array order. The write lock makes the check of
// the unique idempotence index and the insert one step, so racing enqueuers (other connections or
// processes) never both insert a token; a duplicate, in the table or earlier in the same batch,
// is skipped and read back by attemptGetByTokens. (`WHERE true` is SQLite's required
// disambiguation between an upsert and a join constraint.)
export const attemptInsertMany = `
INSERT INTO {{table}} (target, method_name, method_args, encryptor, max_attempts, queue, priority,
  idempotence_token, scheduled_at, created_at, updated_at, concurrency_key, trace_context)
SELECT value ->> 'target', value ->> 'method_name', value ->> 'method_args',
  value ->> 'encryptor', value ->> 'max_attempts', value ->> 'queue', value ->> 'priority',
  value ->> 'idempotence_token', coalesce(value ->> 'scheduled_at_ms', ${nowMs}), ${nowMs},
  ${nowMs}, value ->> 'concurrency_key', value ->> 'trace_context'
FROM json_each(?1)
WHERE true
ORDER BY key
ON CONFLICT (target, method_name, idempotence_token) WHERE idempotence_token IS NOT NULL DO NOTHING
RETURNING ${columns}`;

// Debounce (enqueue's replace: 'pending'): attempts still pending that hold these tokens take the
// new arguments, encryptor and due time. Runs right after the insert on its connection; under
// the write lock a claim either ran before (the row is running: left alone) or runs after the
// caller commits (and sees the new arguments). Rows not pending are not returned.
export const attemptReplacePending = `
UPDATE {{table}} AS t
SET method_args = r.value ->> 'method_args', encryptor = r.value ->> 'encryptor',
  scheduled_at = coalesce(r.value ->> 'scheduled_at_ms', ${nowMs}), updated_at = ${nowMs}
FROM json_each(?1) AS r
WHERE t.idempotence_token IS NOT NULL AND t.status = 'pending'
  AND t.target = r.value ->> 'target' AND t.method_name = r.value ->> 'method_name'
  AND t.idempotence_token = r.value ->> 'idempotence_token'
RETURNING ${columns}`;

// Reads the rows that won an idempotence conflict. Runs on the insert's connection right after
// it (in the caller's transaction, if any), so the winner is committed or our own: visible.
export const attemptGetByTokens = `
SELECT ${columns} FROM {{table}}
WHERE idempotence_token IS NOT NULL
  AND (target, method_name, idempotence_token) IN (
    SELECT value ->> 'target', value ->> 'methodName', value ->> 'idempotenceToken'
    FROM json_each(?1))`;

// A read: sees the last committed state (WAL readers never wait for the writer). With the run
// history, which only get and list read (migration 0006).
export const attemptGet = `SELECT ${columns}, runs FROM {{table}} AS t WHERE t.id = CAST(?1 AS INTEGER)`;

// Newest first; every filter optional. Pages by id (keyset), never by offset. A read, as above.
export const attemptList = `
SELECT ${columns}, runs FROM {{table}} AS t
WHERE (?1 IS NULL OR t.status = ?1)
  AND (?2 IS NULL OR t.target = ?2)
  AND (?3 IS NULL OR t.method_name = ?3)
  AND (?4 IS NULL OR t.queue = ?4)
  AND (?5 IS NULL OR t.id < CAST(?5 AS INTEGER))
  AND (?7 IS NULL OR t.idempotence_token = ?7)
  AND (?8 IS NULL OR t.id > CAST(?8 AS INTEGER))
ORDER BY t.id DESC
LIMIT ?6`;

// Final outcomes per minute over the last hour (the dashboard's charts). No index on
// completed_at (one would cost every completion): a scan of the table. A read.
export const attemptOutcomesLastHour = `
SELECT (completed_at / 60000) * 60000 AS minute, status, count(*) AS count
FROM {{table}}
WHERE completed_at >= ${nowMs} - 3600000 AND status IN ('succeeded', 'failed')
GROUP BY 1, 2`;

// The lowest priorities above ?1 (null: above the lowest pending one, which a claim's first
// statement read) with a row due now and by the horizon ?2, at most ?3: the next ones a claim
// takes (see dueByPriority), found by one statement that steps from priority to priority off the
// due index and looks at each one's first rows, so a priority whose rows are all scheduled for
// later costs index steps, not statements. `found` counts the due priorities before each step.
export const attemptNextDuePriorities = nextDuePriorities('', '');

// The same for the rows of queue ?4 (a limited claim's walk), off its own stretch of the
// queue-leading index.
export const attemptNextDueQueuePriorities = nextDuePriorities(
  ' INDEXED BY "{{name}}_queue_due_idx"',
  ' AND queue = ?4',
);

function nextDuePriorities(index: string, queue: string): string {
  const pending = `FROM {{table}}${index} WHERE status = 'pending'${queue}`;
  const due = (priority: string): string => `EXISTS (SELECT 1 ${pending}
    AND priority = ${priority} AND scheduled_at <= ${nowMs} AND (?2 IS NULL OR scheduled_at <= ?2))`;
  return `
WITH RECURSIVE walk(priority, found) AS (
  SELECT (SELECT min(priority) ${pending}
    AND priority > coalesce(?1, (SELECT min(priority) ${pending}))), 0
  UNION ALL
  SELECT (SELECT min(priority) ${pending} AND priority > walk.priority),
    walk.found + ${due('walk.priority')}
  FROM walk
  WHERE walk.priority IS NOT NULL AND walk.found + ${due('walk.priority')} < ?3
)
SELECT priority FROM walk WHERE priority IS NOT NULL AND ${due('walk.priority')}`;
}

// "Now" for a claim statement: ?N, the time of the claim's first statement (null in that one),
// so every row a claim of several statements (one per priority) leases has its lease from one
// instant, the instant the claim returns: under load, 14 ms passed between two of them.
// No SKIP LOCKED, and none needed: choosing the rows and leasing them is one statement under the
// write lock, so a concurrent claimer (another connection or process) waits for our commit and
// then no longer sees these rows as pending. ?5 is a JSON array of queues, or null for all. The
// priorities (see dueByPriority): ?6, a JSON array of them, or null for the lowest with pending
// rows; ?7, the claim's time (claimNow).
// ?4, the horizon of a runDue pass (its first claim's time), keeps retries out of the pass; a row
// retried within the horizon's own millisecond can still come back, and the pass hands it back.
export const attemptClaim = leaseChosen(`
  SELECT id FROM {{table}} INDEXED BY "{{name}}_due_idx"
  WHERE ${dueOfPriority}
    AND (?5 IS NULL OR queue IN (SELECT value FROM json_each(?5)))
  ORDER BY priority, scheduled_at, id
  LIMIT ?2`);

// attemptClaim for every queue but those of the JSON array ?5 (the queues with flow control,
// which only attemptClaimLimited claims): the same statement with one more filter.
export const attemptClaimExcept = leaseChosen(`
  SELECT id FROM {{table}} INDEXED BY "{{name}}_due_idx"
  WHERE ${dueOfPriority}
    AND queue NOT IN (SELECT value FROM json_each(?5))
  ORDER BY priority, scheduled_at, id
  LIMIT ?2`);

// A claim from the queue ?5 within its limits: at most ?6 running in the queue (null: no limit),
// at most ?7 running per concurrency key (rows without one: no limit), round-robin across keys
// when ?8, and at most ?9 starts (rows of <name>_starts, migration 0004) within the last ?10 ms,
// across the queue or, when ?11, per key (rows without one share a count); ?9 null: no rate
// limit. Race-free as every write here: counting and leasing is one statement under the write
// lock, so no other claimer runs in between (a rate-limited claim records its starts in the same
// transaction, attemptRecordStarts). Running rows are counted through the lease index (exactly
// the running ones); an expired lease counts until the rescuer returns its row. The candidates
// are the queue's first ?12 due rows (-1: all of them) of the priorities of the JSON array ?13
// (see limited-claim.ts), ranked within their key; ?14, the claim's time (claimNow). Each
// priority is a bounded walk of the index, from its first due row to its first row due later:
// one walk over every priority could not stop at the rows scheduled for later, and read them all
// (34 ms per claim beside 200,000). LIMIT is clamped at 0 (SQLite reads a negative LIMIT as
// none).
export const attemptClaimLimited = `
UPDATE {{table}}
SET status = 'running', num_attempts = num_attempts + 1, locked_by = ?1,
  locked_until = ${claimNow(14)} + ?3, updated_at = ${claimNow(14)}
WHERE id IN (
  SELECT c.id FROM (
    SELECT id, priority, scheduled_at, concurrency_key,
      row_number() OVER (PARTITION BY concurrency_key ORDER BY priority, scheduled_at, id)
        AS key_rank
    FROM (
      SELECT id, priority, scheduled_at, concurrency_key
      FROM {{table}} INDEXED BY "{{name}}_queue_due_idx"
      WHERE status = 'pending'
        AND scheduled_at <= ${claimNow(14)}
        AND (?4 IS NULL OR scheduled_at <= ?4)
        AND queue = ?5
        AND priority IN (SELECT value FROM json_each(?13))
      ORDER BY priority, scheduled_at, id
      LIMIT ?12)) AS c
  LEFT JOIN (
    SELECT concurrency_key, count(*) AS running FROM {{table}} INDEXED BY "{{name}}_lease_idx"
    WHERE status = 'running' AND queue = ?5 AND concurrency_key IS NOT NULL
    GROUP BY concurrency_key) AS k ON k.concurrency_key = c.concurrency_key
  LEFT JOIN (
    SELECT concurrency_key, count(*) AS started FROM "{{name}}_starts"
    WHERE ?11 AND queue = ?5 AND started_at > ${claimNow(14)} - ?10
    GROUP BY concurrency_key) AS w ON w.concurrency_key IS c.concurrency_key
  WHERE (c.concurrency_key IS NULL OR c.key_rank <= ?7 - coalesce(k.running, 0))
    AND (NOT coalesce(?11, 0) OR c.key_rank <= ?9 - coalesce(w.started, 0))
  ORDER BY CASE WHEN ?8 THEN c.key_rank END, c.priority, c.scheduled_at, c.id
${limitedClaimEnd}`;

// What a limited claim of queue ?1 may still take, as far as its concurrency ?2 and (across the
// queue, not per key: ?5) its rate limit ?3 per ?4 ms leave it (NULL: no such limit): a claim
// whose first look at a priority fell short reads every due row of it only if this is above 0.
export const attemptLimitedRoom = `
SELECT min(coalesce(?2 - (
    SELECT count(*) FROM {{table}} INDEXED BY "{{name}}_lease_idx"
    WHERE status = 'running' AND queue = ?1), 1),
  CASE WHEN ?3 IS NOT NULL AND NOT ?5 THEN ?3 - (
    SELECT count(*) FROM "{{name}}_starts" WHERE queue = ?1 AND started_at > ${nowMs} - ?4)
  ELSE 1 END) AS room`;

// Before a rate-limited claim, in its transaction: the queue ?1's starts that have left the
// window of ?2 ms, so the table holds about one window of starts (each is deleted once).
export const attemptPruneStarts = `
DELETE FROM "{{name}}_starts" WHERE queue = ?1 AND started_at <= ${nowMs} - ?2`;

// After a rate-limited claim, in its transaction: one start per claimed attempt (ids: JSON array
// ?1), at the claim's instant ?2.
export const attemptRecordStarts = `
INSERT INTO "{{name}}_starts" (queue, concurrency_key, started_at)
SELECT queue, concurrency_key, ?2 FROM {{table}}
WHERE id IN (SELECT CAST(value AS INTEGER) FROM json_each(?1))`;

// The windows of queue ?1's rate limit (?3 starts per ?2 ms, per key when ?4) now, over the starts
// of the last two periods (see the PostgreSQL statement): full_for_ms, until the first full one
// has room (NULL: none full); freed, one was full within the last period and has room now.
export const flowRateWindow = `
SELECT min(CASE WHEN w.free_at > w.now THEN w.free_at - w.now END) AS full_for_ms,
  coalesce(max(w.free_at <= w.now), 0) AS freed
FROM (
  SELECT s.started_at + ?2 AS free_at, c.now, row_number() OVER (
    PARTITION BY CASE WHEN ?4 THEN s.concurrency_key END ORDER BY s.started_at DESC) AS n
  FROM (SELECT ${nowMs} AS now) AS c
  JOIN "{{name}}_starts" AS s ON s.queue = ?1 AND s.started_at > c.now - 2 * ?2) AS w
WHERE w.n = ?3`;

// Fenced: a row is written only while still running under this lease and this attempt count,
// so a worker that lost its lease (rescued, re-claimed elsewhere) cannot overwrite the outcome.
// The check and the write are one statement under the write lock. A row whose cancel was
// requested ends expired whatever the run said (a retry would run a cancelled task).
export const attemptCompleteMany = `
UPDATE {{table}} AS t
SET ${outcomeAssignments}
  runs = ${cancelledRunEntry},
  locked_by = NULL, locked_until = NULL, updated_at = ${nowMs}
FROM (
  SELECT CAST(value ->> 'id' AS INTEGER) AS id, value ->> 'numAttempts' AS num_attempts,
    value ->> 'status' AS status, value ->> 'delayMs' AS delay_ms, value ->> 'error' AS error
  FROM json_each(?2)) AS o
WHERE t.id = o.id AND +t.status = 'running' AND t.locked_by = ?1 AND t.num_attempts = o.num_attempts
RETURNING CAST(id AS TEXT) AS id, status`;

// Fenced like completion; rows whose lease was lost are simply not returned.
export const attemptExtendLeases = `
UPDATE {{table}} AS t
SET locked_until = ${nowMs} + ?3
FROM (
  SELECT CAST(value ->> 'id' AS INTEGER) AS id, value ->> 'numAttempts' AS num_attempts
  FROM json_each(?2)) AS l
WHERE t.id = l.id AND +t.status = 'running' AND t.locked_by = ?1 AND t.num_attempts = l.num_attempts
RETURNING CAST(id AS TEXT) AS id`;

// Fenced; undoes the claim's count so a shutdown does not burn an attempt. One whose cancel was
// requested ends expired instead of pending (handed back, it would run again).
export const attemptReleaseMany = `
UPDATE {{table}} AS t
SET status = CASE WHEN t.cancel_requested_at IS NULL THEN 'pending' ELSE 'expired' END,
  num_attempts = t.num_attempts - 1,
  completed_at = CASE WHEN t.cancel_requested_at IS NOT NULL THEN ${nowMs} END,
  last_error = CASE WHEN t.cancel_requested_at IS NULL THEN t.last_error ELSE 'Cancelled' END,
  locked_by = NULL, locked_until = NULL,
  progress = CASE WHEN t.cancel_requested_at IS NULL THEN NULL ELSE t.progress END,
  progress_message = CASE WHEN t.cancel_requested_at IS NULL THEN NULL ELSE t.progress_message END,
  updated_at = ${nowMs}
FROM (
  SELECT CAST(value ->> 'id' AS INTEGER) AS id, value ->> 'numAttempts' AS num_attempts
  FROM json_each(?2)) AS l
WHERE t.id = l.id AND +t.status = 'running' AND t.locked_by = ?1 AND t.num_attempts = l.num_attempts
RETURNING CAST(id AS TEXT) AS id`;

// A handler's progress (ctx.progress), fenced like completion: written only while this worker
// still holds this run, so a run whose lease was lost writes nothing. One row by primary key.
export const attemptSetProgress = `
UPDATE {{table}} SET progress = ?1, progress_message = ?2
WHERE id = CAST(?3 AS INTEGER) AND status = 'running' AND locked_by = ?4 AND num_attempts = ?5`;

// Only from pending: the check and the write are one statement under the write lock.
export const attemptSetFinalIfPending = `
UPDATE {{table}} SET status = ?2, completed_at = ${nowMs}, updated_at = ${nowMs}
WHERE id = CAST(?1 AS INTEGER) AND status = 'pending'
RETURNING ${columns}, runs`;

// Pending: expired at once; running: marked (the first request's time kept), for its worker's
// next look. One statement under the write lock, so a claim either leased the row before (it is
// marked) or comes after and finds it expired.
export const attemptCancel = `
UPDATE {{table}} SET
  status = CASE WHEN status = 'pending' THEN 'expired' ELSE status END,
  completed_at = CASE WHEN status = 'pending' THEN ${nowMs} ELSE completed_at END,
  last_error = CASE WHEN status = 'pending' THEN 'Cancelled' ELSE last_error END,
  cancel_requested_at = CASE WHEN status = 'running' THEN coalesce(cancel_requested_at, ${nowMs}) END,
  updated_at = ${nowMs}
WHERE id = CAST(?1 AS INTEGER) AND status IN ('pending', 'running')
RETURNING ${columns}, runs`;

// The held attempts whose cancel was requested: primary-key lookups, a read.
export const attemptListCancelRequested = `
SELECT CAST(t.id AS TEXT) AS id
FROM json_each(?1) AS l
JOIN {{table}} AS t ON t.id = CAST(l.value ->> 'id' AS INTEGER)
WHERE t.num_attempts = l.value ->> 'numAttempts' AND t.cancel_requested_at IS NOT NULL
  AND t.status = 'running'`;

// Gives an exhausted attempt room for one more run; check and write are one statement, as above.
// A cancel request of its last run goes.
export const attemptSetPendingIfFinished = `
UPDATE {{table}} SET status = 'pending', completed_at = NULL, scheduled_at = ${nowMs},
  cancel_requested_at = NULL,
  max_attempts = max(max_attempts, num_attempts + 1), progress = NULL, progress_message = NULL,
  updated_at = ${nowMs}
WHERE id = CAST(?1 AS INTEGER) AND status IN ('failed', 'expired')
RETURNING ${columns}, runs`;

// One batch of a manual prune, along the primary key from where the last batch stopped (?3), so
// a prune reads the table once (no index on completed_at: it would cost every completion);
// bounded batches keep each hold of the write lock short, so enqueuers and claimers wait little.
export const attemptPrune = `
DELETE FROM {{table}} WHERE id IN (
  SELECT id FROM {{table}}
  WHERE id > CAST(?3 AS INTEGER) AND status IN ('succeeded', 'failed', 'expired')
    AND completed_at < ?1
  ORDER BY id
  LIMIT ?2)
RETURNING CAST(id AS TEXT) AS id`;

// Where one window of the retention sweep (see src/worker/pruner.ts) ends: the last of the next
// ?2 attempts along the primary key, a bounded range read whatever the table's size (ids follow
// age; no index on completed_at, which would cost every completion). `recent`: it was created
// less than the shortest retention (?3) ago, so no later attempt can be old enough yet. Ordered
// by `w.id`: a bare `id` would be the text alias, and '9' sorts after '10'. A read: the delete
// below takes the write lock.
export const attemptPruneWindowEnd = `
SELECT CAST(w.id AS TEXT) AS id, w.created_at >= ${nowMs} - ?3 AS recent
FROM (SELECT id, created_at FROM {{table}} WHERE id > CAST(?1 AS INTEGER) ORDER BY id LIMIT ?2)
  AS w
ORDER BY w.id DESC
LIMIT 1`;

// Deletes the window's finished attempts past their status's retention (?3, ?4, ?5 ms; NULL
// keeps that status): a primary-key range, checked and deleted in one statement under the write
// lock, which also keeps concurrent pruners (other connections or processes) from overlapping.
export const attemptPruneWindowDelete = `
DELETE FROM {{table}}
WHERE id > CAST(?1 AS INTEGER) AND id <= CAST(?2 AS INTEGER)
  AND ((status = 'succeeded' AND completed_at < ${nowMs} - ?3)
    OR (status = 'failed' AND completed_at < ${nowMs} - ?4)
    OR (status = 'expired' AND completed_at < ${nowMs} - ?5))`;

// Exact counts for every (status, queue) present: one scan of the table. For small tables only
// (see the executor); large ones are counted by attemptStatsEstimated. A read: WAL readers never
// wait for the writer.
export const attemptStats = `
SELECT status, queue, count(*) AS count FROM {{table}} GROUP BY status, queue`;

// Decides how stats() counts: the first and last ids (each a lookup at one end of the table).
export const attemptStatsSize = `
SELECT CAST((SELECT min(id) FROM {{table}}) AS TEXT) AS min_id,
  CAST((SELECT max(id) FROM {{table}}) AS TEXT) AS max_id`;

// Stats of a large table, without reading it whole. Pending, running, failed and expired
// attempts are counted exactly, each through the partial index holding only its rows (the last
// one carries the queue since migration 0002: no row is read). Succeeded attempts, the bulk, are
// left to an estimate: rows marked `sampled` count every status in evenly spaced ranges of ids
// (?1, a JSON array of {lo, hi}), each a short rowid range read.
export const attemptStatsEstimated = `
SELECT status, queue, count(*) AS count, 0 AS sampled
FROM {{table}} INDEXED BY "{{name}}_due_idx" WHERE status = 'pending' GROUP BY status, queue
UNION ALL
SELECT status, queue, count(*), 0
FROM {{table}} INDEXED BY "{{name}}_lease_idx" WHERE status = 'running' GROUP BY status, queue
UNION ALL
SELECT status, queue, count(*), 0
FROM {{table}} INDEXED BY "{{name}}_finished_badly_idx" WHERE status IN ('failed', 'expired')
GROUP BY status, queue
UNION ALL
SELECT t.status, t.queue, count(*), 1
FROM json_each(?1) AS w
  JOIN {{table}} AS t ON t.id >= w.value ->> 'lo' AND t.id < w.value ->> 'hi'
GROUP BY t.status, t.queue`;

// async-task/testing's clock: every pending attempt comes due ?1 milliseconds sooner, as if that
// much time had passed. One statement under the write lock.
export const attemptShiftScheduled = `
UPDATE {{table}} SET scheduled_at = scheduled_at - ?1
WHERE status = 'pending'`;
