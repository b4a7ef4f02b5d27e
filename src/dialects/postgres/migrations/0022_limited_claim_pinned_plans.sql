-- <name>_claim_limited chose its indexes by the planner's estimates, and a queue table's
-- statistics are seldom those of its backlog: analysed while nearly every row was finished (or
-- never, on a new table), they say a queue's pending rows are a handful, and then any of the
-- three pending indexes looks as cheap as the one a statement was written for. A first look then
-- read the queue's whole backlog from the key-leading index and sorted it (30 ms a claim at
-- 100,000 due instead of 2), and the look by key walked the keys through the queue-leading one,
-- reading the backlog once per key (560 ms a claim, 20,000 due over 100 keys: a keyed drain at
-- 330 tasks/s). As in <name>_claim_due and _claim_queues, enable_sort = off (and here
-- enable_incremental_sort = off: the key-leading index is presorted on the queue) now prices a
-- sort so high that a statement reads the one index that gives its order. Where two would (with
-- the key equal to a given one, the queue-leading index has a key's rows in the same order), the
-- key is bounded by row comparisons, which do not make it a constant of the order, so only the
-- key-leading index has it. The sorts the looks cannot do without (ranking within keys, the
-- claim order of what they found) are in every plan alike. Generic plans as since 0021: a
-- replaced function keeps only the settings of its new definition.
CREATE OR REPLACE FUNCTION {{schema}}"{{name}}_claim_limited"(p_locked_by text, p_limit integer,
  p_lease_ms float8, p_horizon timestamptz, p_queue text, p_concurrency integer,
  p_key_concurrency integer, p_fair boolean, p_rate_limit integer, p_rate_period_ms float8,
  p_rate_per_key boolean, p_durable boolean)
RETURNS TABLE (id bigint, target text, method_name text, method_args text, encryptor text,
  num_attempts integer, max_attempts integer, queue text, priority smallint,
  idempotence_token text, scheduled_at float8, last_error text, created_at float8, db_now float8)
LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_bitmapscan = off
SET enable_nestloop = off
SET enable_sort = off
SET enable_incremental_sort = off
SET plan_cache_mode = force_generic_plan
-- The walks' lateral joins are nested loops whatever the settings: disabled, they put the plan's
-- cost past jit_above_cost, and compiling it took 360 ms of every claim.
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
  v_room integer := p_limit;
  v_now timestamptz;
  v_since timestamptz;
  v_prefix integer;
  v_claimed integer;
  v_priorities smallint[];
  v_seen integer;
  v_last smallint;
  -- How many priorities with a due row a first look takes: one at first (a busy queue's claim
  -- seldom needs more), then up to 32; fair, every one.
  v_most integer := CASE WHEN p_fair THEN 65536 ELSE 1 END;
  v_ids bigint[];
  v_after integer := -32769;
  v_due timestamptz := least(now(), p_horizon);
BEGIN
  IF NOT p_durable THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('async-task:flow:{{table}}'), hashtext(p_queue));
  IF p_concurrency IS NOT NULL THEN
    SELECT least(p_limit, p_concurrency - count(*)) INTO v_room FROM {{table}} AS r
    WHERE r.locked_until IS NOT NULL AND r.status = 'running' AND r.queue = p_queue;
  END IF;
  IF p_rate_limit IS NOT NULL THEN
    v_now := clock_timestamp();
    v_since := v_now - p_rate_period_ms * interval '1 millisecond';
    DELETE FROM {{schema}}"{{name}}_starts" AS s
    WHERE s.queue = p_queue AND s.started_at <= v_since;
    IF NOT p_rate_per_key THEN
      SELECT least(v_room, p_rate_limit - count(*)) INTO v_room
      FROM {{schema}}"{{name}}_starts" AS s WHERE s.queue = p_queue;
    END IF;
  END IF;
  IF v_room <= 0 THEN
    RETURN;
  END IF;
  LOOP
    -- The next priorities of the queue with a due row: each step reads a priority's first row
    -- (its earliest) off the queue-leading index, and the walk stops once it has found v_most
    -- that are due; fair: every such priority, in one ranking (round-robin spans them).
    WITH RECURSIVE walk(priority, first_at, found) AS (
      (SELECT n.priority, n.scheduled_at, 0 FROM {{table}} AS n
      WHERE n.status = 'pending' AND n.queue = ANY(ARRAY[p_queue]) AND n.priority > v_after
      ORDER BY n.queue, n.priority, n.scheduled_at LIMIT 1)
      UNION ALL
      SELECT x.priority, x.scheduled_at, w.found + (w.first_at <= v_due)::integer
      FROM walk AS w CROSS JOIN LATERAL (
        SELECT n.priority, n.scheduled_at FROM {{table}} AS n
        WHERE n.status = 'pending' AND n.queue = ANY(ARRAY[p_queue]) AND n.priority > w.priority
        ORDER BY n.queue, n.priority, n.scheduled_at LIMIT 1) AS x
      WHERE w.found + (w.first_at <= v_due)::integer < v_most)
    SELECT coalesce(array_agg(w.priority ORDER BY w.priority), '{}') INTO v_priorities
    FROM walk AS w WHERE w.first_at <= v_due;
    EXIT WHEN cardinality(v_priorities) = 0;
    -- NULL: the look by key.
    v_prefix := CASE WHEN p_fair THEN NULL ELSE v_room * 4 + 256 END;
    LOOP
    IF v_prefix IS NOT NULL THEN
      -- The first look: the prefix of the priorities' due rows in claim order, ranked within
      -- keys. The list is read one priority at a time, in order (the function scan's, which the
      -- nested loop keeps: no sort), and each priority's rows in index order, only as far as the
      -- prefix goes.
      v_ids := ARRAY(
        SELECT c.id FROM (
          SELECT d.id, d.priority, d.scheduled_at, d.concurrency_key,
            row_number() OVER (PARTITION BY d.concurrency_key
              ORDER BY d.priority, d.scheduled_at, d.id) AS key_rank
          FROM (
            SELECT d.id, d.priority, d.scheduled_at, d.concurrency_key
            FROM unnest(v_priorities) WITH ORDINALITY AS p(priority, at)
            CROSS JOIN LATERAL (
              SELECT d.id, d.priority, d.scheduled_at, d.concurrency_key FROM {{table}} AS d
              WHERE d.status = 'pending'
                AND d.queue = ANY(ARRAY[p_queue])
                AND d.priority = p.priority
                AND d.scheduled_at <= now()
                AND (p_horizon IS NULL OR d.scheduled_at <= p_horizon)
              -- The queue first: only the queue-leading due index gives this order, so the walk
              -- cannot be the all-queues due index's, stepping over other queues' rows.
              ORDER BY d.queue, d.priority, d.scheduled_at, d.id
              LIMIT v_prefix) AS d
            ORDER BY p.at
            LIMIT v_prefix) AS d) AS c
        LEFT JOIN (
          SELECT r.concurrency_key, count(*) AS running FROM {{table}} AS r
          WHERE r.locked_until IS NOT NULL AND r.status = 'running' AND r.queue = p_queue
            AND r.concurrency_key IS NOT NULL
          GROUP BY r.concurrency_key) AS k ON k.concurrency_key = c.concurrency_key
        LEFT JOIN (
          SELECT s.concurrency_key, count(*) AS started FROM {{schema}}"{{name}}_starts" AS s
          WHERE p_rate_per_key AND s.queue = p_queue
          GROUP BY s.concurrency_key)
          -- Attempts without a key share one count. An equality, so it can be hashed (IS NOT
          -- DISTINCT FROM cannot); no key is '' (enqueue refuses an empty one).
          AS w ON coalesce(w.concurrency_key, '') = coalesce(c.concurrency_key, '')
        WHERE (c.concurrency_key IS NULL
            OR c.key_rank <= p_key_concurrency - coalesce(k.running, 0))
          AND (NOT coalesce(p_rate_per_key, false)
            OR c.key_rank <= p_rate_limit - coalesce(w.started, 0))
        ORDER BY c.priority, c.scheduled_at, c.id
        LIMIT v_room);
    ELSE
      -- The look by key, over the priorities from the first to the last of v_priorities (the one
      -- a first look ended in, or when fair every pending one: none lies between them but those).
      v_ids := ARRAY(
        WITH RECURSIVE keys AS (
          (SELECT n.concurrency_key FROM {{table}} AS n
          WHERE n.status = 'pending' AND n.queue = ANY(ARRAY[p_queue])
            AND n.concurrency_key IS NOT NULL
          ORDER BY n.queue, n.concurrency_key LIMIT 1)
          UNION ALL
          SELECT (SELECT n.concurrency_key FROM {{table}} AS n
            WHERE n.status = 'pending' AND n.queue = ANY(ARRAY[p_queue])
              AND n.concurrency_key > keys.concurrency_key
            ORDER BY n.queue, n.concurrency_key LIMIT 1)
          FROM keys WHERE keys.concurrency_key IS NOT NULL),
        started AS (
          SELECT s.concurrency_key, count(*) AS started FROM {{schema}}"{{name}}_starts" AS s
          WHERE p_rate_per_key AND s.queue = p_queue
          GROUP BY s.concurrency_key),
        rooms AS (
          -- least() leaves out a NULL: the rate room counts only when the rate limit is per key.
          SELECT keys.concurrency_key, greatest(0, least(v_room,
              p_key_concurrency - coalesce(k.running, 0),
              CASE WHEN p_rate_per_key THEN p_rate_limit - coalesce(w.started, 0) END)) AS room
          FROM keys
          LEFT JOIN (
            SELECT r.concurrency_key, count(*) AS running FROM {{table}} AS r
            WHERE r.locked_until IS NOT NULL AND r.status = 'running' AND r.queue = p_queue
              AND r.concurrency_key IS NOT NULL
            GROUP BY r.concurrency_key) AS k ON k.concurrency_key = keys.concurrency_key
          LEFT JOIN started AS w ON w.concurrency_key = keys.concurrency_key
          WHERE keys.concurrency_key IS NOT NULL),
        -- Fair: no group (a key, or the rows without one) past the first ceil(room / groups).
        share AS (
          SELECT CASE WHEN p_fair THEN ceil(v_room::numeric / (count(*) + 1))::integer
            ELSE v_room END AS n
          FROM rooms WHERE rooms.room > 0),
        candidates AS (
          SELECT d.id, d.priority, d.scheduled_at,
            row_number() OVER (PARTITION BY f.concurrency_key
              ORDER BY d.priority, d.scheduled_at, d.id) AS key_rank
          FROM rooms AS f
          CROSS JOIN LATERAL (
            SELECT d.id, d.priority, d.scheduled_at FROM {{table}} AS d
            WHERE d.status = 'pending'
              AND d.queue = ANY(ARRAY[p_queue])
              -- The key and the priorities, bounded together: equal to the key, as an equality
              -- would be, without making the key a constant the queue-leading index is ordered by.
              AND (d.concurrency_key, d.priority)
                >= (f.concurrency_key, v_priorities[1])
              AND (d.concurrency_key, d.priority)
                <= (f.concurrency_key, v_priorities[cardinality(v_priorities)])
              AND d.scheduled_at <= now()
              AND (p_horizon IS NULL OR d.scheduled_at <= p_horizon)
            -- Only the key-leading index gives this order: a key's rows are one stretch of it.
            ORDER BY d.queue, d.concurrency_key, d.priority, d.scheduled_at, d.id
            LIMIT least(f.room, (SELECT s.n FROM share AS s))) AS d
          WHERE f.room > 0
          UNION ALL
          -- Rows without a key: one stretch of the same index, no key concurrency, one shared
          -- rate count.
          SELECT d.id, d.priority, d.scheduled_at,
            row_number() OVER (ORDER BY d.priority, d.scheduled_at, d.id)
          FROM (
            SELECT d.id, d.priority, d.scheduled_at FROM {{table}} AS d
            WHERE d.status = 'pending'
              AND d.queue = ANY(ARRAY[p_queue])
              AND d.concurrency_key IS NULL
              AND d.priority BETWEEN v_priorities[1] AND v_priorities[cardinality(v_priorities)]
              AND d.scheduled_at <= now()
              AND (p_horizon IS NULL OR d.scheduled_at <= p_horizon)
            ORDER BY d.queue, d.concurrency_key, d.priority, d.scheduled_at, d.id
            LIMIT greatest(0, least((SELECT s.n FROM share AS s), CASE WHEN p_rate_per_key
              THEN p_rate_limit - coalesce((SELECT w.started FROM started AS w
                WHERE w.concurrency_key IS NULL), 0) END))) AS d)
        SELECT c.id FROM candidates AS c
        ORDER BY CASE WHEN p_fair THEN c.key_rank END, c.priority, c.scheduled_at, c.id
        LIMIT v_room);
    END IF;
    RETURN QUERY
    WITH claimed AS (
    UPDATE {{table}} AS t
    SET status = 'running', num_attempts = t.num_attempts + 1, locked_by = p_locked_by,
      locked_until = now() + p_lease_ms * interval '1 millisecond', updated_at = now()
    -- Still pending (not expired meanwhile), written so that it does not match the partial
    -- indexes' predicate: the planner, thinking the queue-leading index small, read all of it to
    -- find the claimed ids instead of looking them up by primary key (60 ms for a claim of 100).
    WHERE t.status IS NOT DISTINCT FROM 'pending' AND t.id = ANY(v_ids)
    RETURNING t.*),
    started AS (
      INSERT INTO {{schema}}"{{name}}_starts" (queue, concurrency_key, started_at)
      SELECT c.queue, c.concurrency_key, v_now FROM claimed AS c WHERE p_rate_limit IS NOT NULL)
    SELECT t.id, t.target, t.method_name, t.method_args, t.encryptor, t.num_attempts,
      t.max_attempts, t.queue, t.priority, t.idempotence_token,
      (extract(epoch FROM t.scheduled_at) * 1000)::float8,
      t.last_error, (extract(epoch FROM t.created_at) * 1000)::float8,
      (extract(epoch FROM now()) * 1000)::float8
    FROM claimed AS t;
    GET DIAGNOSTICS v_claimed = ROW_COUNT;
    v_room := v_room - v_claimed;
    -- A fair look that took some looks again: the groups with fewer than their share are done.
    EXIT WHEN v_room <= 0 OR (v_prefix IS NULL AND NOT (p_fair AND v_claimed > 0));
    IF v_prefix IS NOT NULL THEN
      -- A first look that read every due row of its priorities saw every candidate. One whose
      -- prefix filled up may have left out free keys' rows behind busy ones, in the priority it
      -- ended in: the look by key reads that one, and the walk goes on from it. Counted only
      -- now, after a short look (a count in the look itself cost every claim 8 %): the rows it
      -- claimed were in its prefix, so the prefix ends where the rows still due, read again in
      -- the same order, reach its length less those.
      SELECT count(*), max(x.priority) INTO v_seen, v_last FROM (
        SELECT d.priority FROM unnest(v_priorities) WITH ORDINALITY AS p(priority, at)
        CROSS JOIN LATERAL (
          SELECT d.priority FROM {{table}} AS d
          WHERE d.status = 'pending'
            AND d.queue = ANY(ARRAY[p_queue])
            AND d.priority = p.priority
            AND d.scheduled_at <= now()
            AND (p_horizon IS NULL OR d.scheduled_at <= p_horizon)
          ORDER BY d.queue, d.priority, d.scheduled_at, d.id
          LIMIT v_prefix - v_claimed) AS d
        ORDER BY p.at
        LIMIT v_prefix - v_claimed) AS x;
      EXIT WHEN v_seen < v_prefix - v_claimed;
      v_priorities := ARRAY[v_last];
    END IF;
    v_prefix := NULL;
    END LOOP;
    EXIT WHEN v_room <= 0 OR p_fair;
    v_after := v_priorities[cardinality(v_priorities)];
    v_most := 32;
  END LOOP;
END;
$$;
