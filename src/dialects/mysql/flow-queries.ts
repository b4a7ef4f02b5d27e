// MySQL statements of flow control (the AsyncTask's `queues`), beside queries.ts and bound with
// it: the same substitutions ({{table}}, and {{flow}} and {{starts}}, the lock and starts tables
// of migration 0004), the same positional parameters.

import {
  claimSelect,
  columns,
  epochMs,
  leaseList,
  lowestPendingPriority,
  priorityList,
} from './sql-parts.js';

// attemptClaimSelect for every queue but those of the JSON array (the queues with flow control,
// which only the limited claim takes): the same statements with the queue filter negated.
const claimQueuesExcept = '(? IS NULL OR NOT JSON_CONTAINS(?, JSON_QUOTE(t.queue)))';
export const attemptClaimSelectExceptFirst = claimSelect(
  `= ${lowestPendingPriority}`,
  claimQueuesExcept,
);
export const attemptClaimSelectExcept = claimSelect(priorityList, claimQueuesExcept);

// First statement of a limited claim: the queue's lock row (migration 0004), locked exclusively
// until the claim's transaction ends (ON DUPLICATE KEY UPDATE takes an exclusive lock on the
// existing row, where INSERT IGNORE would take a shared one, and two shared holders upgrading
// would deadlock). Limited claims of one queue take turns here; other queues are not held up.
export const flowLock = `
INSERT INTO {{flow}} (queue) VALUES (?) ON DUPLICATE KEY UPDATE queue = queue`;

// The greatest concurrency key among the pending rows of queue ? (see attemptQueueLastKey).
const lastKeyOfQueue = `SELECT MAX(n.concurrency_key) FROM {{table}} AS n
    FORCE INDEX (queue_key_due_idx) WHERE n.pending_queue = ?`;

// Running attempts of one queue, after flowLock: a fresh READ COMMITTED read, so every claim
// committed before the lock was granted is counted. Reads the claim index alone (it leads with
// the status and ends with the queue). Rows under a completion's marker still count until it
// commits. With it, as attemptQueueLastKey, whether the queue's pending rows have a key.
export const attemptCountRunning = `
SELECT (SELECT COUNT(*) FROM {{table}} AS t FORCE INDEX (due_idx)
    WHERE t.status = 'running' AND t.queue = ?) AS running,
  (${lastKeyOfQueue}) AS last_key`;

// The greatest key among a queue's pending rows (null: none has one, or none is pending): one
// step down the queue-and-key index. A queue whose pending rows have no key is looked at in its
// own stretch of that index (see limitedCandidates).
export const attemptQueueLastKey = `SELECT (${lastKeyOfQueue}) AS last_key`;

// Keys are ranked and counted by a 16-byte digest, not as they are: MariaDB's in-memory temporary
// tables hold a VARCHAR(255) utf8mb4 at its full 1,020 bytes, so a look over more than about
// 15,000 due rows (the second look of a keyed queue past its busy keys) went to disk: 0.9-1.2 s
// per claim at 100,000, 0.25-0.5 s with the digest. Two keys with one digest would share their
// counts: fewer claimed, never more.
const keyHash = (alias: string): string => `UNHEX(MD5(${alias}.concurrency_key))`;

// The rows a limited claim looks at: its queue's due rows, not under a marker's hold, not past the
// horizon (parameters: the horizon twice, the queue).
const dueNow = `t.status = 'pending'
  AND t.scheduled_at <= UTC_TIMESTAMP(3)
  AND (t.locked_until IS NULL OR t.locked_until <= UTC_TIMESTAMP(3))
  AND (? IS NULL OR t.scheduled_at <= CAST(? AS DATETIME(3)))`;
const dueOfQueue = `${dueNow}
  AND t.queue = ?`;

// The same rows of a queue whose pending rows have no key (the same parameters), from its own
// stretch of the queue-and-key index (migration 0008): another queue's due rows cost the look
// nothing. The status is checked again: a worker of the version before migration 0008 leaves
// pending_queue as it was when it claims.
const dueOfUnkeyedQueue = `${dueNow}
  AND t.pending_queue = ? AND t.concurrency_key IS NULL`;

/** Where a look reads its queue's due rows: see dueOfQueue and dueOfUnkeyedQueue. */
function dueRowsOf(unkeyed: boolean): string {
  return unkeyed
    ? `FROM {{table}} AS t FORCE INDEX (queue_key_due_idx)
      WHERE ${dueOfUnkeyedQueue}`
    : `FROM {{table}} AS t FORCE INDEX (due_idx)
      WHERE ${dueOfQueue}`;
}

// A limited claim's first look, after flowLock (a plain read; no other claimer takes rows of this
// queue meanwhile): the queue's first due rows (as many as the prefix parameter: see
// limitedByPriority) of some priorities, ranked within their concurrency key, keeping those that
// fit under the key's limit beside its running rows (rows without a key always fit) and, for a
// per-key rate limit, under the key's room in the window (rows without a key share one count), in
// due order (a fair claim looks by key: key-walk-queries.ts). Rows under a marker's hold are
// left out, as in attemptClaimSelect. A queue whose pending rows have a key is read along the
// claim index, which holds every queue's rows, so other queues' due rows ahead of this one's are
// stepped over (its rows lie in one stretch per key of the queue-and-key index, in no one due
// order; a queue-leading due index, as PostgreSQL and SQLite have, cost 10-18% more server CPU
// per task in the drain benchmark for every MySQL user: InnoDB has no partial indexes, every
// status change writes it); one whose rows have none, from their own stretch (`unkeyed`). The
// priorities are a list (see priorityList): the server walks one range per priority, in order,
// from its first due row to its first row due later, where one walk over every priority read
// every pending row.
// The running rows and the starts of each key are counted by window functions over the
// candidates, the queue's running rows and its starts taken together (`kind` 0, 1, 2), not
// joined to them: MariaDB joins derived tables by block nested loop, every candidate compared
// with every busy key (200 ms per claim at 1,000 busy keys).
// A counted look (`firstLook`) returns one more row, of no attempt (id NULL, key '' which no
// attempt has, sorted last; the LIMIT is then the room plus one), carrying `seen`: how many due
// rows it read. Fewer than it asked for means it saw every one, and a claim of a queue with
// nothing due (every claim of an idle one) does not read its priority's due rows again. Only
// first looks of up to `countedLook` rows, and the wider looks after a short one, carry it: the
// row costs a copy of the rows read, a fifth more for a look of thousands, which a first look
// seldom falls short of.
function limitedCandidates(priorityFilter: string, firstLook: boolean, unkeyed: boolean): string {
  return `
SELECT CAST(c.id AS CHAR) AS id${firstLook ? ', c.seen' : ''} FROM (
  SELECT x.id, x.kind, x.priority, x.scheduled_at, x.key_hash,
    ROW_NUMBER() OVER (PARTITION BY x.key_hash, x.kind
      ORDER BY x.priority, x.scheduled_at, x.id) AS key_rank,
    SUM(x.kind = 1) OVER (PARTITION BY x.key_hash) AS running,
    SUM(x.kind = 2) OVER (PARTITION BY x.key_hash) AS started${
      firstLook ? ',\n    SUM(x.kind = 0 AND x.id IS NOT NULL) OVER () AS seen' : ''
    }
  FROM (
    SELECT d.id, 0 AS kind, d.priority, d.scheduled_at, d.key_hash FROM (
      SELECT t.id, t.priority, t.scheduled_at, ${keyHash('t')} AS key_hash
      ${dueRowsOf(unkeyed)}${priorityFilter}
      ORDER BY t.priority, t.scheduled_at, t.id
      LIMIT ?) AS d${firstLook ? "\n    UNION ALL SELECT NULL, 0, NULL, NULL, ''" : ''}
    UNION ALL
    SELECT r.id, 1, NULL, NULL, ${keyHash('r')} FROM {{table}} AS r FORCE INDEX (due_idx)
    WHERE r.status = 'running' AND r.queue = ? AND r.concurrency_key IS NOT NULL
    UNION ALL
    SELECT NULL, 2, NULL, NULL, ${keyHash('s')} FROM {{starts}} AS s
    WHERE ? AND s.queue = ? AND s.started_at > UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND) AS x
) AS c
WHERE c.kind = 0
  AND (c.id IS NULL OR ((c.key_hash IS NULL OR c.key_rank <= ? - c.running)
    AND (NOT ? OR c.key_rank <= ? - c.started)))
ORDER BY c.id IS NULL, c.priority, c.scheduled_at, c.id
LIMIT ?`;
}

const priorityIs = `\n        AND t.priority ${priorityList}`;
// The lowest pending priority of the table, found by the statement (limitedByPriority's
// lowest.pass).
const lowestPriority = `\n        AND t.priority = ${lowestPendingPriority}`;
export const attemptClaimLimitedFirstLook = limitedCandidates(priorityIs, true, false);
export const attemptClaimLimitedFirstLookLowest = limitedCandidates(lowestPriority, true, false);
export const attemptClaimLimitedCandidates = limitedCandidates(priorityIs, false, false);
export const attemptClaimLimitedCandidatesLowest = limitedCandidates(lowestPriority, false, false);
// The same looks at a queue whose pending rows have no key (attemptCountRunning or
// attemptQueueLastKey says so), from its own stretch of the queue-and-key index: behind 200,000
// due rows of another queue, a queue with { concurrency: 20 } drained at a quarter of its rate
// alone. A row enqueued with a key after that check waits for the next claim, which sees it.
export const attemptClaimUnkeyedFirstLook = limitedCandidates(priorityIs, true, true);
export const attemptClaimUnkeyedFirstLookLowest = limitedCandidates(lowestPriority, true, true);
export const attemptClaimUnkeyedCandidates = limitedCandidates(priorityIs, false, true);
export const attemptClaimUnkeyedCandidatesLowest = limitedCandidates(lowestPriority, false, true);

// Whether the queue has a due row (1) or none (no row) at some priorities, for a limited claim that
// claimed nothing and read no candidate: a look that does not count what it read (see
// countedLook in flow-room.ts) cannot tell an idle queue from one whose due rows all wait on busy
// keys. Steps over the other queues' due rows as the looks do (no queue-leading index), from the
// priority's first due row to its first row due later, as they do.
export const attemptQueueHasDue = `
SELECT 1 AS due ${dueRowsOf(false)} AND t.priority ${priorityList}
LIMIT 1`;
export const attemptUnkeyedQueueHasDue = `
SELECT 1 AS due ${dueRowsOf(true)} AND t.priority ${priorityList}
LIMIT 1`;

// Locks a limited claim's candidates by id, for attemptClaimUpdate. SKIP LOCKED and the checks
// again: a row an enqueue or a release still holds, or one changed since the candidates were
// read (expired, say), is left out.
export const attemptClaimSelectIds = `
SELECT ${columns('t.')}, ${epochMs('UTC_TIMESTAMP(3)')} AS db_now
FROM ${leaseList} AS c
  STRAIGHT_JOIN {{table}} AS t FORCE INDEX (PRIMARY) ON t.id = c.attempt_id
WHERE t.status = 'pending'
  AND (t.locked_until IS NULL OR t.locked_until <= UTC_TIMESTAMP(3))
FOR UPDATE SKIP LOCKED`;

// A rate-limited claim, after flowLock: its queue's starts that have left the window (each is
// deleted once, so the table holds about one window of starts), then those still in it. Both read
// the clock after the lock, so every earlier claim's starts are in, and are earlier.
export const flowPruneStarts = `
DELETE FROM {{starts}}
WHERE queue = ? AND started_at <= UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND`;

export const flowCountStarts = `
SELECT COUNT(*) AS started FROM {{starts}}
WHERE queue = ? AND started_at > UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND`;

// One start per attempt a rate-limited claim leased (JSON ids), in its transaction, stamped now:
// at or after the instant its look counted the window (UTC_TIMESTAMP is per statement). Stamped
// at the claim's first instant, a later pass's starts could fall before the window that pass
// counted, and a window hold more than the limit.
export const flowRecordStarts = `
INSERT INTO {{starts}} (queue, concurrency_key, started_at)
SELECT t.queue, t.concurrency_key, UTC_TIMESTAMP(3)
FROM ${leaseList} AS c
  STRAIGHT_JOIN {{table}} AS t FORCE INDEX (PRIMARY) ON t.id = c.attempt_id`;

// The windows of a queue's rate limit now (parameters: the queue, the period in ms, the limit,
// per key as 1 or 0; named once in a derived table, as MySQL's placeholders are positional): a
// window is full until its limit-th newest start leaves it. Over the starts of the last two
// periods, so that a window that freed since a claim found it full is seen: full_for_ms, until the
// first full one has room (NULL: none full); freed, one was full within the last period and has
// room now. The starts carry the database's clock (a claim's db_now).
export const flowRateWindow = `
SELECT MIN(CASE WHEN w.free_at > w.now THEN TIMESTAMPDIFF(MICROSECOND, w.now, w.free_at) END) / 1000
    AS full_for_ms,
  COALESCE(MAX(w.free_at <= w.now), 0) AS freed
FROM (
  SELECT s.started_at + INTERVAL p.period_ms * 1000 MICROSECOND AS free_at, p.now, p.lim,
    ROW_NUMBER() OVER (PARTITION BY CASE WHEN p.per_key = 1 THEN s.concurrency_key END
      ORDER BY s.started_at DESC) AS n
  FROM (SELECT ? AS queue, ? AS period_ms, ? AS lim, ? AS per_key, UTC_TIMESTAMP(3) AS now) AS p
  JOIN {{starts}} AS s ON s.queue = p.queue
    AND s.started_at > p.now - INTERVAL 2 * p.period_ms * 1000 MICROSECOND) AS w
WHERE w.n = w.lim`;
