// The look by key of a limited claim (see limited-claim.ts), with the parameters of
// attemptClaimLimited (queries.ts) but for ?12, which it has no use for: a look that reads the
// queue's keys instead of a prefix of its due rows. ?13 holds the priorities of the look (one, or
// when fair every pending one); it reads those from the first to the last.
//
// `keys` is a loose scan of the queue-and-key index (migration 0008): one step per key with
// pending rows. Each key's room is its keyConcurrency less its running attempts and, with a rate
// limit per key, its starts in the window; `picks` then steps through a key's due rows in due
// order, from the same stretch of the index, as many as its room. Rows without a key share one
// rate count and have no key limit: the first of them, from their own stretch. The candidates are
// ordered as the first look orders them (due order, or rank within the key first when fair) and
// cut at what the queue's concurrency and rate limits leave. O(keys with pending rows) per claim,
// whatever the backlog of any one key. A fair look takes no group's rows (a key's, or those
// without one) past the first ceil(?2 / groups with room): ordered by rank first, the claim is
// filled by those when every group has that many, and one that falls short looks again
// (limited-walk.ts). Before, each key gave as many as its room: 10,000 picks for a claim of 100
// from 100 keys at a keyConcurrency of 100.
import { claimNow, limitedClaimEnd } from './sql-parts.js';

/** The conditions a due row of the look meets, beside its queue and key (alias `d`). */
const dueInLook = `d.status = 'pending' AND d.queue = ?5
    AND d.priority BETWEEN (SELECT lo FROM bounds) AND (SELECT hi FROM bounds)
    AND d.scheduled_at <= ${claimNow(14)} AND (?4 IS NULL OR d.scheduled_at <= ?4)`;

export const attemptClaimLimitedByKey = `
UPDATE {{table}}
SET status = 'running', num_attempts = num_attempts + 1, locked_by = ?1,
  locked_until = ${claimNow(14)} + ?3, updated_at = ${claimNow(14)}
WHERE id IN (
  WITH RECURSIVE
  bounds AS (SELECT min(value) AS lo, max(value) AS hi FROM json_each(?13)),
  keys(k) AS (
    SELECT (SELECT concurrency_key FROM {{table}} INDEXED BY "{{name}}_queue_key_due_idx"
      WHERE status = 'pending' AND queue = ?5 AND concurrency_key IS NOT NULL
      ORDER BY concurrency_key LIMIT 1)
    UNION ALL
    SELECT (SELECT concurrency_key FROM {{table}} INDEXED BY "{{name}}_queue_key_due_idx"
      WHERE status = 'pending' AND queue = ?5 AND concurrency_key > keys.k
      ORDER BY concurrency_key LIMIT 1)
    FROM keys WHERE keys.k IS NOT NULL),
  running AS (
    SELECT concurrency_key, count(*) AS n FROM {{table}} INDEXED BY "{{name}}_lease_idx"
    WHERE status = 'running' AND queue = ?5 AND concurrency_key IS NOT NULL
    GROUP BY concurrency_key),
  started AS (
    SELECT concurrency_key, count(*) AS n FROM "{{name}}_starts"
    WHERE coalesce(?11, 0) AND queue = ?5 AND started_at > ${claimNow(14)} - ?10
    GROUP BY concurrency_key),
  rooms AS (
    SELECT keys.k, min(?2, ?7 - coalesce(r.n, 0),
      CASE WHEN coalesce(?11, 0) THEN ?9 - coalesce(s.n, 0) ELSE ?2 END) AS room
    FROM keys
    LEFT JOIN running AS r ON r.concurrency_key = keys.k
    LEFT JOIN started AS s ON s.concurrency_key = keys.k
    WHERE keys.k IS NOT NULL),
  share AS (
    SELECT CASE WHEN ?8 THEN CAST((?2 + count(*)) / (count(*) + 1) AS INTEGER) ELSE ?2 END AS n
    FROM rooms WHERE room > 0),
  picks(k, n, room, id) AS (
    SELECT f.k, 1, min(f.room, (SELECT n FROM share)), (
      SELECT d.id FROM {{table}} AS d INDEXED BY "{{name}}_queue_key_due_idx"
      WHERE d.concurrency_key = f.k AND ${dueInLook}
      ORDER BY d.priority, d.scheduled_at, d.id LIMIT 1)
    FROM rooms AS f WHERE f.room > 0
    UNION ALL
    SELECT p.k, p.n + 1, p.room, (
      SELECT d.id FROM {{table}} AS d INDEXED BY "{{name}}_queue_key_due_idx"
      WHERE d.concurrency_key = p.k AND ${dueInLook}
        AND (d.priority, d.scheduled_at, d.id) > (x.priority, x.scheduled_at, x.id)
      ORDER BY d.priority, d.scheduled_at, d.id LIMIT 1)
    FROM picks AS p JOIN {{table}} AS x ON x.id = p.id
    WHERE p.n < p.room),
  candidates AS (
    SELECT id, n AS key_rank FROM picks WHERE id IS NOT NULL
    UNION ALL
    SELECT id, row_number() OVER (ORDER BY priority, scheduled_at, id) FROM (
      SELECT d.id, d.priority, d.scheduled_at
      FROM {{table}} AS d INDEXED BY "{{name}}_queue_key_due_idx"
      WHERE d.concurrency_key IS NULL AND ${dueInLook}
      ORDER BY d.priority, d.scheduled_at, d.id
      LIMIT max(0, min((SELECT n FROM share), CASE WHEN coalesce(?11, 0)
        THEN ?9 - coalesce((SELECT n FROM started WHERE concurrency_key IS NULL), 0)
        ELSE ?2 END))))
  SELECT c.id FROM candidates AS c JOIN {{table}} AS t ON t.id = c.id
  ORDER BY CASE WHEN ?8 THEN c.key_rank END, t.priority, t.scheduled_at, t.id
${limitedClaimEnd}`;
