// PostgreSQL statements, one per behaviour. `{{table}}` is the only substitution: the validated,
// double-quoted table name, filled in once per table (see bindStatements).

import { attemptColumns } from '../attempt-rows.js';
import { cancelledRunEntry } from './run-queries.js';
import { outcomeAssignments } from './sql-parts.js';

/**
 * Every column, as the row mapper expects them. Timestamps travel as epoch milliseconds: parsing a
 * float is several times cheaper in node-postgres than parsing timestamptz text, and a claim
 * returns thousands of them.
 */
function columns(alias = ''): string {
  return attemptColumns(
    alias,
    (column) => column,
    (column) => `(extract(epoch FROM ${column}) * 1000)::float8`,
  );
}

// Rows arrive as one JSON array (node-postgres serialises a JSON string several times faster
// than nine text arrays). ON CONFLICT DO NOTHING waits for a concurrent transaction holding the
// same idempotence token to finish, so racing enqueuers never both insert. Identity values are
// drawn in ordinality order, so ascending ids follow the input order.
export const attemptInsertMany = `
INSERT INTO {{table}} (target, method_name, method_args, encryptor, max_attempts, queue, priority,
  idempotence_token, scheduled_at, concurrency_key, trace_context)
SELECT target, method_name, method_args, encryptor, max_attempts, queue, priority,
  idempotence_token, coalesce(to_timestamp(scheduled_at_ms / 1000.0), now()), concurrency_key,
  trace_context
FROM ROWS FROM (json_to_recordset($1::json) AS (target text, method_name text, method_args text,
  encryptor text, max_attempts int, queue text, priority smallint, idempotence_token text,
  scheduled_at_ms float8, concurrency_key text, trace_context text)) WITH ORDINALITY
  AS r(target, method_name, method_args, encryptor, max_attempts, queue, priority,
  idempotence_token, scheduled_at_ms, concurrency_key, trace_context, ord)
ORDER BY ord
ON CONFLICT (target, method_name, idempotence_token) WHERE idempotence_token IS NOT NULL DO NOTHING
RETURNING id, target, method_name, idempotence_token, (extract(epoch FROM scheduled_at) * 1000)::float8 AS scheduled_at,
  (extract(epoch FROM created_at) * 1000)::float8 AS created_at`;

// Debounce (enqueue's replace: 'pending'): attempts still pending that hold these tokens take the
// new arguments, encryptor and due time. Runs after the insert, in the caller's transaction; the
// insert waited for any uncommitted holder of a token, so each is committed or our own. A claim
// that locked a row first makes this UPDATE wait, and under READ COMMITTED it then re-checks the
// row's newest version: claimed (running), it is left alone. A row updated here stays locked
// until the caller commits, so a claim (SKIP LOCKED) passes it by and later runs the new
// arguments. The trigger of migration 0002 fires on INSERT only, so this statement sends its
// notification for rows it made due, the same one the trigger sends (one per queue).
export const attemptReplacePending = `
WITH replaced AS (
  UPDATE {{table}} AS t
  SET method_args = r.method_args, encryptor = r.encryptor,
    scheduled_at = coalesce(to_timestamp(r.scheduled_at_ms / 1000.0), now()), updated_at = now()
  FROM json_to_recordset($1::json) AS r(target text, method_name text, idempotence_token text,
    method_args text, encryptor text, scheduled_at_ms float8)
  WHERE t.target = r.target AND t.method_name = r.method_name
    AND t.idempotence_token = r.idempotence_token AND t.status = 'pending'
  RETURNING t.*),
notified AS (
  SELECT count(pg_notify('{{channel}}', due.queue)) AS sent
  FROM (SELECT DISTINCT queue FROM replaced WHERE scheduled_at <= now()) AS due)
SELECT ${columns('replaced.')} FROM replaced CROSS JOIN notified`;

// Reads the rows that won an idempotence conflict. Runs after the insert, in the same
// transaction, so the winner is committed (or our own) and visible under READ COMMITTED.
export const attemptGetByTokens = `
SELECT ${columns()} FROM {{table}}
WHERE (target, method_name, idempotence_token) IN (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))`;

// With the run history, which only get and list read (see migration 0010).
export const attemptGet = `SELECT ${columns()}, runs FROM {{table}} WHERE id = $1`;

// Newest first; every filter optional. Pages by id (keyset), never by offset; $8 bounds how far
// back it reads. Each filter is `$n IS NULL OR …`, so a generic plan looks as dear as a full
// scan and PostgreSQL keeps planning this prepared statement for its parameters (plain id ranges
// made a generic plan look cheap: it was chosen, and walked 6,000,000 rows for one token).
// Running attempts are few and may be old: the second line (true of every running row) lets a
// plan made for status 'running' read them from the lease index instead of the whole table.
export const attemptList = `
SELECT ${columns()}, runs FROM {{table}}
WHERE ($1::text IS NULL OR status = $1)
  AND ($1::text IS DISTINCT FROM 'running' OR locked_until IS NOT NULL)
  AND ($2::text IS NULL OR target = $2)
  AND ($3::text IS NULL OR method_name = $3)
  AND ($4::text IS NULL OR queue = $4)
  AND ($5::bigint IS NULL OR id < $5)
  AND ($7::text IS NULL OR idempotence_token = $7)
  AND ($8::bigint IS NULL OR id > $8)
ORDER BY id DESC
LIMIT $6`;

// Final outcomes per minute over the last hour (the dashboard's charts). The window is written
// out, not a parameter, so that a generic plan estimates it as well as a custom one. completed_at has no
// B-tree (one would cost every completion); the BRIN index of migration 0005 narrows the read to
// the table's recently written page ranges. A plain read; it locks nothing.
export const attemptOutcomesLastHour = `
SELECT (floor(extract(epoch FROM completed_at) / 60) * 60000)::float8 AS minute, status,
  count(*)::float8 AS count
FROM {{table}}
WHERE completed_at >= now() - interval '1 hour'
  AND status IN ('succeeded', 'failed')
GROUP BY 1, 2`;

// FOR NO KEY UPDATE SKIP LOCKED: concurrent claimers each take different rows and never wait on
// each other; the lease is set in the same statement, so a claimed row is never seen as pending.
// `id = ANY(ARRAY(...))` makes the update a primary-key lookup; a join against the locked set
// let the planner hash the whole table, which grows with every finished attempt. The statement
// lives in a function (migrations 0003, 0012) that pins its plan: an ordered walk of the due
// index, whatever the statistics say, one priority at a time, so attempts scheduled for later
// cost a claim nothing. Here it claims every queue (both its queue filters null); a claim of
// some queues is attemptClaimQueues. It is called directly: <name>_claim and
// <name>_claim_except, which wrap it for code of before 0012, cost a SQL function's planning on
// every call.
//
// Unless $5 (durable) is true, the claim commits without waiting for its WAL flush
// (synchronous_commit off for its own transaction only): the flush is most of an idle pickup's
// latency. A server crash can then forget a claim made in its last moments: the attempt is
// pending again and may run twice, which at-least-once delivery allows (the first run's outcome
// is fenced off). A later synchronous commit flushes the WAL before it, claims included, so
// nothing recorded after a claim can survive without it. Durable keeps the session's own setting.
export const attemptClaim = `
SELECT * FROM {{claimDue}}($1::text, $2::integer, $3::float8, $4::timestamptz, NULL, NULL, $5::boolean)`;

// attemptClaim of the queues $5, or (null) of every queue but $6 (those with flow control):
// from each queue's stretch of the queue-leading due index (migration 0017), so another queue's
// backlog costs it nothing. Durability as attemptClaim.
export const attemptClaimQueues = `
SELECT * FROM {{claimQueues}}($1::text, $2::integer, $3::float8, $4::timestamptz, $5::text[], $6::text[], $7::boolean)`;

// A claim from one queue with flow control (migration 0008): serialised per (table, queue) by a
// transaction-scoped advisory lock taken before it counts running attempts and recent starts, so
// racing claimers never exceed the queue's or a key's limits. Durability as attemptClaim.
export const attemptClaimLimited = `
SELECT * FROM {{claimLimited}}($1::text, $2::integer, $3::float8, $4::timestamptz, $5::text,
  $6::integer, $7::integer, $8::boolean, $9::integer, $10::float8, $11::boolean, $12::boolean)`;

// Whether queue $1 has a due attempt (a row) or none (no row), as of a limited claim that took
// nothing (its function does not say why: a queue at its limits and an idle one both take
// nothing), so that a worker leaves an idle limited queue's claim out for a while (FlowClaimer).
// Walks the queue's pending priorities lowest first, reading each one's earliest attempt from the
// queue's due index, until one is due: one descent per priority, never the attempts scheduled for
// later (a retry's backoff). Only the queue-leading due index can give each read's order: the
// queue is bounded by a range, not an equality, and leads the ORDER BY. With `queue = $1` the
// planner drops the queue from the order (a constant), and the generic plan of this prepared
// statement, which must serve any queue, read the due index of every queue filtered by queue when
// the statistics had one queue hold every row: beside another queue's backlog of 1,000,000, 250 ms
// per probe (test/integration/postgres-queue-has-due.test.ts). Written as EXISTS, or by priority
// and due time apart, it was read from other indexes too (7-18 ms at 45,000).
export const attemptQueueHasDue = `
WITH RECURSIVE p AS (
  (SELECT d.priority, d.scheduled_at FROM {{table}} AS d
   WHERE d.status = 'pending' AND d.queue >= $1::text AND d.queue <= $1::text
   ORDER BY d.queue, d.priority, d.scheduled_at LIMIT 1)
  UNION ALL
  SELECT n.priority, n.scheduled_at FROM p CROSS JOIN LATERAL (
    SELECT d.priority, d.scheduled_at FROM {{table}} AS d
    WHERE d.status = 'pending' AND (d.queue, d.priority) > ($1::text, p.priority)
      AND d.queue <= $1::text
    ORDER BY d.queue, d.priority, d.scheduled_at LIMIT 1) AS n
  WHERE p.scheduled_at > now())
SELECT 1 AS due FROM p
WHERE p.scheduled_at <= now() AND ($2::timestamptz IS NULL OR p.scheduled_at <= $2::timestamptz)
LIMIT 1`;

// The windows of queue $1's rate limit ($3 starts per $2 ms, per key when $4) now: a window is full
// until its $3-th newest start leaves it. Over the starts of the last two periods, so that a
// window that freed since a claim found it full is seen (a claim prunes only starts older than
// one period): full_for_ms, until the first full one has room (NULL: none full); freed, one was
// full within the last period and has room now.
export const flowRateWindow = `
SELECT extract(epoch FROM min(w.free_at) FILTER (WHERE w.free_at > w.now) - min(w.now)) * 1000
    AS full_for_ms,
  coalesce(bool_or(w.free_at <= w.now), false) AS freed
FROM (
  SELECT s.started_at + $2::float8 * interval '1 millisecond' AS free_at, c.now,
    row_number() OVER (PARTITION BY CASE WHEN $4::integer = 1 THEN s.concurrency_key END
      ORDER BY s.started_at DESC) AS n
  FROM (SELECT clock_timestamp() AS now) AS c
  JOIN {{starts}} AS s ON s.queue = $1::text
    AND s.started_at > c.now - 2 * $2::float8 * interval '1 millisecond') AS w
WHERE w.n = $3::integer`;

// The trace contexts of just-claimed attempts, for workers with telemetry: the claim functions do
// not return trace_context, and a join in the claiming statement would read that statement's
// snapshot, taken before the function's own: a row committed in between would come back without
// its context. Read after the claim, by primary key; trace_context is written once, at insert.
export const attemptTraceContexts = `
SELECT id, trace_context FROM {{table}} WHERE id = ANY($1::bigint[])`;

// The fence: only rows still running, under this lease, at this attempt count are written. It
// sits in the UPDATE's own WHERE: under READ COMMITTED an UPDATE that waited on a concurrently
// changed row re-checks it on the latest version, so a rescued or re-claimed row is skipped, and
// no separate row lock (one more WAL record per row) is needed. The check is one CASE over both
// sides of the join, so the planner cannot apply it to the table alone: statistics gathered while
// a backlog was pending say no row is running, and with the fence pushed into the table scan the
// planner chose to scan the table first and rescan the JSON recordset per row, quadratic in the
// batch. Joined on the id alone, it looks rows up by primary key (or, on a small table, hashes
// them). test/integration/postgres-plans.test.ts checks the plans.
const fence = (alias: string): string => `t.id = ${alias}.id
  AND CASE WHEN t.status = 'running' AND t.locked_by = $1 THEN t.num_attempts END
    = ${alias}.num_attempts`;

// Fenced (see above), so a worker that lost its lease (rescued, re-claimed elsewhere) cannot
// overwrite the outcome. A row whose cancel was requested ends expired whatever the run said:
// the request may land after the worker last looked, and a retry would run a cancelled task.
// Under READ COMMITTED the SET reads the version the fence re-checked, so a cancel that committed
// while this waited on the row is seen.
export const attemptCompleteMany = `
UPDATE {{table}} AS t
SET ${outcomeAssignments}
  runs = ${cancelledRunEntry},
  locked_by = NULL, locked_until = NULL, updated_at = statement_timestamp()
FROM json_to_recordset($2::json)
  AS o(id bigint, num_attempts int, status text, delay_ms bigint, error text)
WHERE ${fence('o')}
RETURNING t.id, t.status`;

// Fenced like completion; rows whose lease was lost are simply not returned.
export const attemptExtendLeases = `
UPDATE {{table}} AS t
SET locked_until = now() + $3 * interval '1 millisecond'
FROM json_to_recordset($2::json) AS l(id bigint, num_attempts int)
WHERE ${fence('l')}
RETURNING t.id`;

// Fenced; undoes the claim's count so a shutdown does not burn an attempt. One whose cancel was
// requested ends expired instead of pending (handed back, it would run again).
export const attemptReleaseMany = `
UPDATE {{table}} AS t
SET status = CASE WHEN t.cancel_requested_at IS NULL THEN 'pending' ELSE 'expired' END,
  num_attempts = t.num_attempts - 1,
  completed_at = CASE WHEN t.cancel_requested_at IS NOT NULL THEN now() END,
  last_error = CASE WHEN t.cancel_requested_at IS NULL THEN t.last_error ELSE 'Cancelled' END,
  locked_by = NULL, locked_until = NULL,
  progress = CASE WHEN t.cancel_requested_at IS NULL THEN NULL ELSE t.progress END,
  progress_message = CASE WHEN t.cancel_requested_at IS NULL THEN NULL ELSE t.progress_message END,
  updated_at = now()
FROM json_to_recordset($2::json) AS l(id bigint, num_attempts int)
WHERE ${fence('l')}
RETURNING t.id`;

// A handler's progress (ctx.progress), fenced like completion: written only while this worker
// still holds this run, so a run whose lease was lost writes nothing. A primary-key update of
// columns in no index, and updated_at is left alone: the new row version is a HOT update.
export const attemptSetProgress = `
UPDATE {{table}} SET progress = $1, progress_message = $2
WHERE id = $3 AND status = 'running' AND locked_by = $4 AND num_attempts = $5`;

// Only from pending: the row lock taken by UPDATE makes the check and the write one step.
export const attemptSetFinalIfPending = `
UPDATE {{table}} SET status = $2, completed_at = now(), updated_at = now()
WHERE id = $1 AND status = 'pending'
RETURNING ${columns()}, runs`;

// Pending: expired at once. Running: marked (the first request's time is kept) and the workers
// told at commit, on the channel they LISTEN on for due work (payload `cancel <id>`, which no
// queue name can be). The row lock makes the check and the write one step: a claim that locked
// the row first commits, and this UPDATE re-checks the running version; a claim that comes after
// skips the locked row, then finds it expired. RETURNING runs pg_notify once per running row.
export const attemptCancel = `
UPDATE {{table}} SET
  status = CASE WHEN status = 'pending' THEN 'expired' ELSE status END,
  completed_at = CASE WHEN status = 'pending' THEN now() ELSE completed_at END,
  last_error = CASE WHEN status = 'pending' THEN 'Cancelled' ELSE last_error END,
  cancel_requested_at = CASE WHEN status = 'running' THEN coalesce(cancel_requested_at, now()) END,
  updated_at = now()
WHERE id = $1 AND status IN ('pending', 'running')
RETURNING ${columns()}, runs,
  (CASE WHEN status = 'running' THEN pg_notify('{{channel}}', 'cancel ' || id) END) IS NULL
    AS notified`;

// The held attempts whose cancel was requested: primary-key lookups, a plain read.
export const attemptListCancelRequested = `
SELECT t.id FROM {{table}} AS t
JOIN json_to_recordset($1::json) AS l(id bigint, num_attempts int)
  ON t.id = l.id AND t.num_attempts = l.num_attempts
WHERE t.cancel_requested_at IS NOT NULL AND t.status = 'running'`;

// Gives an exhausted attempt room for one more run; a cancel request of its last run goes.
export const attemptSetPendingIfFinished = `
UPDATE {{table}} SET status = 'pending', completed_at = NULL, scheduled_at = now(),
  cancel_requested_at = NULL,
  max_attempts = greatest(max_attempts, num_attempts + 1), progress = NULL, progress_message = NULL,
  updated_at = now()
WHERE id = $1 AND status IN ('failed', 'expired')
RETURNING ${columns()}, runs`;

// One batch of a manual prune, along the primary key from where the last batch stopped ($3): a
// prune reads the table once, where starting each batch over re-read the rows kept (pending,
// recent) and the dead index entries of those deleted, slowing as it went. No index on
// completed_at (it would cost every completion); bounded batches keep each delete short, SKIP
// LOCKED never waits on a row being changed. The delete looks its rows up by primary key (an
// array, which no table size turns into a join over a scan).
export const attemptPrune = `
WITH candidates AS MATERIALIZED (
  SELECT id FROM {{table}}
  WHERE id > $3::bigint AND status IN ('succeeded', 'failed', 'expired') AND completed_at < $1
  ORDER BY id
  LIMIT $2
  FOR UPDATE SKIP LOCKED),
pruned AS (
  DELETE FROM {{table}} WHERE id = ANY (ARRAY(SELECT id FROM candidates)) RETURNING 1)
SELECT (SELECT count(*) FROM pruned)::float8 AS deleted,
  (SELECT count(*) FROM candidates)::float8 AS found,
  (SELECT max(id) FROM candidates)::text AS last_id`;

// One window of the retention sweep (see src/worker/pruner.ts), in one statement and so in one
// short transaction of its own:
// - the try-lock is transaction-scoped: one process prunes the table at a time, and the lock goes
//   with the transaction whatever happens to the connection or the process. Without it the
//   window reads nothing, and the caller learns the lock was taken;
// - the window is the next $2 attempts of any status along the primary key: a bounded range scan
//   whatever the table's size, and ids follow age. No index on completed_at (it would cost every
//   completion);
// - the DELETE names the statuses and ages itself, so under READ COMMITTED a row changed since
//   the snapshot (retried back to pending) is checked again on its newest version and kept.
//   Nothing but retry() writes a finished row, so it rarely waits, and never long;
// - `done`: the window's last attempt was created less than the shortest retention ago ($6), so
//   no later one can be old enough yet (completed_at is never before created_at), or the table
//   ended. A NULL age keeps that status: the comparison is never true.
export const attemptPruneWindow = `
WITH lock AS MATERIALIZED (
  SELECT pg_try_advisory_xact_lock(hashtext('async-task:prune:{{table}}')) AS held),
last AS MATERIALIZED (
  SELECT w.id, w.created_at FROM (
    SELECT id, created_at FROM {{table}}
    WHERE id > $1::bigint AND (SELECT held FROM lock)
    ORDER BY id
    LIMIT $2) AS w
  ORDER BY w.id DESC
  LIMIT 1),
pruned AS (
  DELETE FROM {{table}} AS t
  WHERE t.id > $1::bigint AND t.id <= (SELECT id FROM last)
    AND ((t.status = 'succeeded' AND t.completed_at < now() - $3::float8 * interval '1 millisecond')
      OR (t.status = 'failed' AND t.completed_at < now() - $4::float8 * interval '1 millisecond')
      OR (t.status = 'expired' AND t.completed_at < now() - $5::float8 * interval '1 millisecond'))
  RETURNING 1)
SELECT (SELECT held FROM lock) AS locked,
  (SELECT count(*) FROM pruned)::float8 AS deleted,
  (SELECT id FROM last) AS last_id,
  coalesce((SELECT created_at >= now() - $6::float8 * interval '1 millisecond' FROM last), true)
    AS done`;

// Decides how stats() counts: the table's current size in pages, and the planner's figures
// (reltuples is -1 until the first VACUUM or ANALYZE). to_regclass resolves the name when the
// statement runs, so a prepared copy never holds the oid of a table dropped since.
export const attemptStatsSize = `
SELECT c.reltuples::float8 AS reltuples, c.relpages::float8 AS relpages,
  (pg_relation_size(c.oid) / current_setting('block_size')::int)::float8 AS pages
FROM pg_class AS c WHERE c.oid = to_regclass('{{table}}')`;

// Exact counts for every (status, queue) present: one sequential scan of the table (no index
// covers status and queue, and one would cost every write). For small tables only (see the
// executor); large ones are counted by attemptStatsEstimated.
export const attemptStats = `
SELECT status, queue, count(*)::float8 AS count FROM {{table}} GROUP BY status, queue`;

// Stats of a large table, without reading it whole. The statuses that are few in a healthy table
// are counted exactly, each through the partial index that holds only its rows: pending (the due
// index), running (the lease index, whose rows are exactly the running ones), failed and expired
// (an index-only scan: that index carries the queue since migration 0004). Succeeded attempts,
// the bulk, are left to an estimate: rows marked `sampled` count every status in a fixed sample
// of about $1 percent of the pages (SYSTEM: whole pages, so a few hundred reads; REPEATABLE, so
// successive calls agree while the table is unchanged).
// The plan stays serial: set_config is PARALLEL UNSAFE, and its mere presence (called once, on a
// setting of our own, for this transaction only) rules parallel workers out. Starting them costs
// more than these small scans take: 150 ms instead of 20 ms on two busy cores.
export const attemptStatsEstimated = `
SELECT status, queue, count(*)::float8 AS count, false AS sampled
FROM {{table}}
WHERE status = 'pending'
  AND (SELECT set_config('async_task.stats_plan', 'serial', true)) IS NOT NULL
GROUP BY status, queue
UNION ALL
SELECT status, queue, count(*)::float8, false
FROM {{table}} WHERE locked_until IS NOT NULL AND status = 'running' GROUP BY status, queue
UNION ALL
SELECT status, queue, count(*)::float8, false
FROM {{table}} WHERE status IN ('failed', 'expired') GROUP BY status, queue
UNION ALL
SELECT status, queue, count(*)::float8, true
FROM {{table}} TABLESAMPLE SYSTEM ($1::float4) REPEATABLE (0) GROUP BY status, queue`;

// async-task/testing's clock: every pending attempt comes due $1 milliseconds sooner, as if that
// much time had passed. Row locks as any UPDATE; a claim running at the same moment either took
// a row first (it is no longer pending) or waits and then sees the earlier due time.
export const attemptShiftScheduled = `
UPDATE {{table}} SET scheduled_at = scheduled_at - $1::float8 * interval '1 millisecond'
WHERE status = 'pending'`;
