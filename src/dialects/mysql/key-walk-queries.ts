// The looks by key of a limited claim (see flow-room.ts), bound with queries.ts: looks that read
// the queue's keys instead of a prefix of the due rows, for the claim's candidates (ids, locked
// and leased as the other looks' are). Their parameters are many and positional; keyLookParams
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
// with pending rows) per claim, whatever the backlog of any one key; a key's n-th row costs n
// index entries (each step reads the key's stretch from its start: see nextOfKey), so a room of
// r costs r²/2. The status is checked again beside pending_queue: a worker of the version
// before migration 0008 leaves the column as it was when it claims. MySQL stops a recursion at
// cte_max_recursion_depth (1,000 by default): the hint lifts it for these statements, whose
// recursion is one step per attempt of a key. A fair claim's only look (attemptClaimFairByKey)
// is one of these too, over every pending priority.

/**
 * The first pending row of a key at one priority after the row `after` (alias `d`; none: the
 * first). Parameter: the queue. Due or not: the index gives a key's rows of one priority by due
 * time, so the first is due if any is, and a look that stops at the first row not due (see
 * `isDue`) reads one entry per row it takes. A condition on the due time here would be checked
 * entry by entry (within a correlated subquery the server reads the key's stretch as a ref, not
 * a range), reading all of a key's rows scheduled for later when none is due.
 */
function nextOfKey(key: string, priority: string, after?: string): string {
  return `(SELECT d.id FROM {{table}} AS d FORCE INDEX (queue_key_due_idx)
    WHERE d.pending_queue = ? AND ${key} AND d.priority = ${priority} AND d.status = 'pending'${
      after === undefined
        ? ''
        : `
      AND (d.scheduled_at, d.id) > (${after}.scheduled_at, ${after}.id)`
    }
    ORDER BY d.scheduled_at, d.id LIMIT 1)`;
}

/**
 * Each pick and its row (`x`), looked up by id: left to itself, MariaDB read the whole table and
 * probed the picks for each row (a look of 500 beside 20,000: 43 ms, 13 ms now).
 */
const picked = 'picks AS p STRAIGHT_JOIN {{table}} AS x FORCE INDEX (PRIMARY) ON x.id = p.id';

/**
 * Whether the row `x` is due for the look. Parameters: the horizon twice. A row not due, or held
 * (an enqueue or a release still reading it back), ends its key's picks of the priority: the rows
 * behind it wait for a later claim.
 */
function isDue(x: string): string {
  return `${x}.scheduled_at <= UTC_TIMESTAMP(3)
    AND (${x}.locked_until IS NULL OR ${x}.locked_until <= UTC_TIMESTAMP(3))
    AND (? IS NULL OR ${x}.scheduled_at <= CAST(? AS DATETIME(3)))`;
}

/** Each key with pending rows, and what its limits leave it (parameters: see keyLookParams). */
const keyRooms = `
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
  HAVING SUM(x.kind = 0) > 0)`;

/**
 * Whether a candidate without a key, of rank `rank` among them, fits the rate room they share.
 * Parameters: per key (1 or 0), the limit, the queue, the period in microseconds.
 */
function unkeyedRateRoom(rank: string): string {
  return `(NOT ? OR ${rank} <= ? - (SELECT COUNT(*) FROM {{starts}} AS s
    WHERE s.queue = ? AND s.concurrency_key IS NULL
      AND s.started_at > UTC_TIMESTAMP(3) - INTERVAL ? MICROSECOND))`;
}

/** The look after a short first look, of one priority. */
export const attemptClaimLimitedByKey = `
WITH RECURSIVE${keyRooms},
picks (k, n, room, id) AS (
  SELECT f.k, 1, f.room, ${nextOfKey('d.concurrency_key = f.k', '?')}
  FROM rooms AS f WHERE f.room > 0
  UNION ALL
  SELECT p.k, p.n + 1, p.room, ${nextOfKey('d.concurrency_key = p.k', '?', 'x')}
  FROM ${picked}
  WHERE p.n < p.room AND ${isDue('x')})
SELECT /*+ SET_VAR(cte_max_recursion_depth = 4294967295) */ CAST(c.id AS CHAR) AS id FROM (
  SELECT p.id FROM ${picked} WHERE ${isDue('x')}
  UNION ALL
  SELECT u.id FROM (
    SELECT v.id, ROW_NUMBER() OVER (ORDER BY v.scheduled_at, v.id) AS rn FROM (
      -- Not correlated: a range, which ends at the first row scheduled for later.
      SELECT d.id, d.scheduled_at FROM {{table}} AS d FORCE INDEX (queue_key_due_idx)
      WHERE d.pending_queue = ? AND d.concurrency_key IS NULL AND d.priority = ?
        AND d.status = 'pending' AND ${isDue('d')}
      ORDER BY d.scheduled_at, d.id LIMIT ?) AS v) AS u
  WHERE ${unkeyedRateRoom('u.rn')}) AS c
  STRAIGHT_JOIN {{table}} AS t FORCE INDEX (PRIMARY) ON t.id = c.id
ORDER BY t.priority, t.scheduled_at, t.id
LIMIT ?`;

// A fair claim's only look, over every pending priority (round-robin across keys spans them).
// Before it, a fair claim ranked every due row of the queue: 412 tasks a second at 200,000 due
// over 100 keys (2.4 ms of server CPU per task). Its candidates are ordered by rank within the
// key first, so it takes no key's rows past the first ceil(room / groups with room), counting
// the rows without a key as one group (the room of the claim is filled by those ranks when every
// group has that many). When it falls short for that, the claim looks again (limited-walk.ts),
// from where this look stopped. Each step is of one key (or the rows without one) at one priority
// (the priorities: a JSON array), as in the look above; the ranks within a key then span them.
export const attemptClaimFairByKey = `
WITH RECURSIVE${keyRooms},
prios (p) AS (SELECT j.p FROM JSON_TABLE(?, '$[*]' COLUMNS (p SMALLINT PATH '$')) AS j),
groups_ (k, room, share) AS (
  SELECT g.k, g.room, CEIL(? / COUNT(*) OVER ()) FROM (
    SELECT f.k, f.room FROM rooms AS f WHERE f.room > 0
    UNION ALL
    SELECT NULL, ?) AS g),
picks (k, p, n, room, id) AS (
  SELECT g.k, pr.p, 1, LEAST(g.room, g.share), ${nextOfKey('d.concurrency_key <=> g.k', 'pr.p')}
  FROM groups_ AS g JOIN prios AS pr
  UNION ALL
  SELECT p.k, p.p, p.n + 1, p.room, ${nextOfKey('d.concurrency_key <=> p.k', 'p.p', 'x')}
  FROM ${picked}
  WHERE p.n < p.room AND ${isDue('x')})
SELECT /*+ SET_VAR(cte_max_recursion_depth = 4294967295) */ CAST(c.id AS CHAR) AS id FROM (
  SELECT r.id, r.key_rank FROM (
    SELECT p.id, p.k, p.room,
      ROW_NUMBER() OVER (PARTITION BY p.k ORDER BY p.p, p.n) AS key_rank
    FROM ${picked} WHERE ${isDue('x')}) AS r
  WHERE r.key_rank <= r.room
    AND (r.k IS NOT NULL OR ${unkeyedRateRoom('r.key_rank')})) AS c
  STRAIGHT_JOIN {{table}} AS t FORCE INDEX (PRIMARY) ON t.id = c.id
ORDER BY c.key_rank, t.priority, t.scheduled_at, t.id
LIMIT ?`;
