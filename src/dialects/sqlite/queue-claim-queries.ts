// The claim of named queues (a worker's `queues`, or every queue but those with flow control)
// from each queue's own stretch of the queue-leading due index (migration 0007). attemptClaim and
// attemptClaimExcept (queries.ts) walk the due index of every queue and filter by queue, reading
// each row for its queue: behind a backlog of 200,000 in another queue, each claim read all of
// it (19.6 ms), and the queues claimed ran at half their rate; 1,000,000 made it a fifth.
import { queuesPerClaim } from './claim-walk.js';
import { claimedPriorities, claimNow, dueOfPriority, leaseChosen } from './sql-parts.js';

// The queues with pending rows, at most ?1 + 1 of them: a loose scan of the queue-leading index,
// one step per queue.
export const attemptPendingQueues = `
WITH RECURSIVE found(queue, step) AS (
  SELECT (SELECT queue FROM {{table}} INDEXED BY "{{name}}_queue_due_idx"
    WHERE status = 'pending' ORDER BY queue LIMIT 1), 1
  UNION ALL
  SELECT (SELECT queue FROM {{table}} INDEXED BY "{{name}}_queue_due_idx"
    WHERE status = 'pending' AND queue > found.queue ORDER BY queue LIMIT 1), found.step + 1
  FROM found WHERE found.queue IS NOT NULL AND found.step <= ?1)
SELECT queue FROM found WHERE queue IS NOT NULL`;

/** The first ?2 due rows of the queue at index `i` of the JSON array ?5 (none past its end). */
const queueArm = (i: number): string => `SELECT * FROM (
      SELECT id, priority, scheduled_at FROM {{table}} INDEXED BY "{{name}}_queue_due_idx"
      WHERE status = 'pending' AND queue = json_extract(?5, '$[${i}]')
        AND priority IN (SELECT priority FROM walked)
        AND scheduled_at <= ${claimNow(7)} AND (?4 IS NULL OR scheduled_at <= ?4)
      ORDER BY priority, scheduled_at, id LIMIT ?2)`;

// attemptClaim (queries.ts) of the one queue ?5: its first ?2 due rows of the priorities, in the
// index's order (no merge to sort). Parameters as attemptClaim's.
export const attemptClaimQueue = leaseChosen(`
  SELECT id FROM {{table}} INDEXED BY "{{name}}_queue_due_idx"
  WHERE ${dueOfPriority} AND queue = ?5
  ORDER BY priority, scheduled_at, id
  LIMIT ?2`);

/**
 * attemptClaim (queries.ts) of the queues of the JSON array ?5, as many as `arms` at most: each
 * one's first ?2 due rows of the priorities, merged in claim order, the first ?2 of them leased.
 * Parameters as attemptClaim's. An arm costs the statement its setup whether its queue is there
 * or not (45 us on SQLite 3.4x: a claim of two queues from a statement of 32 arms took 1.6 ms,
 * 0.2 from one of two, and 20,000 attempts of 20,000 priorities drained at 13,527/s), so a claim
 * takes the statement with the fewest arms that its queues fill at least half of.
 */
const claimQueues = (arms: number): string =>
  leaseChosen(`
  WITH walked(priority) AS (${claimedPriorities})
  SELECT id FROM (
    ${Array.from({ length: arms }, (_, i) => queueArm(i)).join('\n    UNION ALL\n    ')})
  ORDER BY priority, scheduled_at, id
  LIMIT ?2`);
export const attemptClaimQueues2 = claimQueues(2);
export const attemptClaimQueues4 = claimQueues(4);
export const attemptClaimQueues8 = claimQueues(8);
export const attemptClaimQueues16 = claimQueues(16);
export const attemptClaimQueues32 = claimQueues(queuesPerClaim);
