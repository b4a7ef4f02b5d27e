// The claim of named queues (a worker's `queues`, or every queue but those with flow control)
// from each queue's own stretch of the queue-and-key index (migration 0008), for the rows without
// a key, which is all of them in a queue without key limits unless the enqueue gave one anyway
// (queue-claim.ts then walks the due index, as before). attemptClaimSelect and
// attemptClaimSelectExcept (queries.ts, flow-queries.ts) walk the due index of every queue and
// filter by queue: behind a backlog of 1,000,000 in another queue, each claim read all of it.
import { queuesPerShare } from './queue-claim.js';
import { columns, epochMs, priorityList } from './sql-parts.js';

// The queues with pending rows and the greatest key among each one's pending rows (null: none
// has one), at most ?: a loose scan of the queue-and-key index, one step per queue.
export const attemptPendingQueues = `
SELECT n.pending_queue AS queue, MAX(n.concurrency_key) AS last_key
FROM {{table}} AS n FORCE INDEX (queue_key_due_idx)
WHERE n.pending_queue IS NOT NULL
GROUP BY n.pending_queue
LIMIT ?`;

/**
 * A queue's due rows without a key at some priorities (see priorityList), from its stretch of the
 * index: a range per priority that ends at its first row scheduled for later. Parameters: the
 * queue, the priorities, the horizon twice. The status is checked again: a worker of the version
 * before migration 0008 leaves pending_queue as it was when it claims.
 */
function dueOfQueue(alias: string): string {
  return `FROM {{table}} AS ${alias} FORCE INDEX (queue_key_due_idx)
WHERE ${alias}.pending_queue = ? AND ${alias}.concurrency_key IS NULL
  AND ${alias}.priority ${priorityList} AND ${alias}.status = 'pending'
  AND ${alias}.scheduled_at <= UTC_TIMESTAMP(3)
  AND (${alias}.locked_until IS NULL OR ${alias}.locked_until <= UTC_TIMESTAMP(3))
  AND (? IS NULL OR ${alias}.scheduled_at <= CAST(? AS DATETIME(3)))`;
}

// How many of the first ? due rows of some priorities (see priorityList) across the queues are
// each queue's: each queue's first ? in claim order (an arm per queue: queue, the priorities,
// horizon twice, limit; a null queue reads nothing), merged in that order. A queue's share is a
// prefix of its own rows in that order, which the claim then takes (attemptClaimSelectQueue).
// Read without locks.
export const attemptQueueShares = `
SELECT c.queue, COUNT(*) AS n FROM (
  SELECT a.queue FROM (
    ${Array.from(
      { length: queuesPerShare },
      () => `(SELECT d.pending_queue AS queue, d.priority, d.scheduled_at, d.id
    ${dueOfQueue('d')}
    ORDER BY d.priority, d.scheduled_at, d.id LIMIT ?)`,
    ).join('\n    UNION ALL\n    ')}) AS a
  ORDER BY a.priority, a.scheduled_at, a.id
  LIMIT ?) AS c
GROUP BY c.queue`;

// The first half of a claim of one queue's share of some priorities (see priorityList): its
// first due rows without a key, locked (SKIP LOCKED), one range of its stretch per priority, read
// in order. Parameters: see dueOfQueue, then the limit.
export const attemptClaimSelectQueue = `
SELECT ${columns('t.')}, ${epochMs('UTC_TIMESTAMP(3)')} AS db_now
${dueOfQueue('t')}
ORDER BY t.priority, t.scheduled_at, t.id
LIMIT ?
FOR UPDATE SKIP LOCKED`;
