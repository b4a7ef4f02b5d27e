// The look by key of a limited claim (see flow-room.ts), bound with queries.ts: a look that reads
// the queue's keys instead of a prefix of the due rows, for the claim's candidates (ids, locked
// and leased as the other looks' are). Its parameters are many and positional; keyLookParams
// (flow-room.ts) lists them in the order they appear.
//
// `keys_` is a loose scan of the queue-and-key index (migration 0008): one step per key with
// pending rows, which MariaDB and MySQL take for a GROUP BY of the index's leading columns (a
// recursive walk from key to key cannot: a range bound by the row before is read as a scan of
// the queue's whole stretch). `rooms` gives each key its keyConcurrency less its running attempts
// and, with a rate limit per key, its room in the window (counted over one union grouped by key:
// MariaDB joins derived tables by block nested loop, every key compared with every busy one).
// `picks` steps through each free key's due rows in due order, from the key's stretch of the
// index, as many as its room. Rows without a key have no key limit and share one rate count: the
// first of them, from their own stretch. The candidates are ordered as the other looks order
// them (due order, or rank within the key first when fair) and cut at the claim's room. O(keys
// with pending rows) per claim, whatever the backlog of any one key. The status is checked again
// beside pending_queue: a worker of the version before migration 0008 leaves the column as it
// was when it claims. MySQL stops a recursion at cte_max_recursion_depth (1,000 by default): the
// hint lifts it for this statement, whose recursion is one step per attempt of a key.

/** A due row of the look, beside its key (alias `d`). Parameters: queue, priority, horizon twice. */
function dueInLook(key: string): string {
  return `d.pending_queue = ? AND ${key} AND d.status = 'pending' AND d.priority = ?
      AND d.scheduled_at <= UTC_TIMESTAMP(3)
      AND (d.locked_until IS NULL OR d.locked_until <= UTC_TIMESTAMP(3))
      AND (? IS NULL OR d.scheduled_at <= CAST(? AS DATETIME(3)))`;
}

export const attemptClaimLimitedByKey = `
WITH RECURSIVE
keys_ (k) AS (
  SELECT n.concurrency_key FROM {{table}} AS n FORCE INDEX (queue_key_due_idx)
  WHERE n.pending_queue = ? AND n.concurrency_key IS NOT NULL
  GROUP BY n.pending_queue, n.concurrency_key),
rooms AS (
  SELECT x.k, LEAST(?, ? - SUM(x.kind = 1), CASE WHEN ? THEN ? - SUM(x.kind = 2) ELSE ? END)
    AS room
  FROM (
    SELECT keys_.k, 0 AS kind FROM keys_
    UNION ALL
    SELECT r.concurrency_key, 1 FROM {{table}} AS r FORCE INDEX (due_idx)
    WHERE r.status = 'running' AND r.queue = ? AND r.concurrency_key IS NOT NULL
    UNION ALL
    SELECT s.concurrency_key, 2 FROM {{starts}} AS s
    WHERE ? AND s.queue = ? AND s.started_at > UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND) AS x
  GROUP BY x.k
  HAVING SUM(x.kind = 0) > 0),
picks (k, n, room, id) AS (
  SELECT f.k, 1, f.room, (SELECT d.id FROM {{table}} AS d FORCE INDEX (queue_key_due_idx)
    WHERE ${dueInLook('d.concurrency_key = f.k')}
    ORDER BY d.scheduled_at, d.id LIMIT 1)
  FROM rooms AS f WHERE f.room > 0
  UNION ALL
  SELECT p.k, p.n + 1, p.room, (SELECT d.id FROM {{table}} AS d FORCE INDEX (queue_key_due_idx)
    WHERE ${dueInLook('d.concurrency_key = p.k')}
      AND (d.scheduled_at, d.id) > (x.scheduled_at, x.id)
    ORDER BY d.scheduled_at, d.id LIMIT 1)
  FROM picks AS p JOIN {{table}} AS x ON x.id = p.id
  WHERE p.n < p.room)
SELECT /*+ SET_VAR(cte_max_recursion_depth = 4294967295) */ CAST(c.id AS CHAR) AS id FROM (
  SELECT p.id, p.n AS key_rank FROM picks AS p WHERE p.id IS NOT NULL
  UNION ALL
  SELECT u.id, u.rn FROM (
    SELECT v.id, ROW_NUMBER() OVER (ORDER BY v.scheduled_at, v.id) AS rn FROM (
      SELECT d.id, d.scheduled_at FROM {{table}} AS d FORCE INDEX (queue_key_due_idx)
      WHERE ${dueInLook('d.concurrency_key IS NULL')}
      ORDER BY d.scheduled_at, d.id LIMIT ?) AS v) AS u
  WHERE NOT ? OR u.rn <= ? - (SELECT COUNT(*) FROM {{starts}} AS s
    WHERE s.queue = ? AND s.concurrency_key IS NULL
      AND s.started_at > UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND)) AS c
  STRAIGHT_JOIN {{table}} AS t FORCE INDEX (PRIMARY) ON t.id = c.id
ORDER BY CASE WHEN ? THEN c.key_rank END, t.priority, t.scheduled_at, t.id
LIMIT ?`;
