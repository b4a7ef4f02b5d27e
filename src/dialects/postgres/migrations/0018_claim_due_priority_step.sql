-- The claims' walks over priorities (<name>_claim_due of 0015, <name>_claim_queues of 0017,
-- <name>_claim_limited of 0016) stepped to each next pending priority, due or not, and passed
-- over it: a statement or two each (a limited claim's first look and its look by key, which reads
-- every key of the queue). Beside 2,000 priorities whose attempts are all due tomorrow, each
-- claim ran 4,004 statements (10,005 for a limited one); beside 5,000, an idle worker's empty
-- claim took 90 ms. Each step now goes to the next priority with a due row, in one statement: a
-- walk from priority to priority reading each one's first row (its earliest due time), which
-- stops at the first that is due. The first step too, so a claim starts at the lowest priority
-- with a due row. <name>_claim_due's later passes take up to 32 priorities with a due row at
-- once (20,000 due attempts of 20,000 priorities drained at 19,079/s, against 34,437 in one).
-- Everything else is as in those migrations.
CREATE OR REPLACE FUNCTION {{schema}}"{{name}}_claim_due"(p_locked_by text, p_limit integer,
  p_lease_ms float8, p_horizon timestamptz, p_queues text[], p_except text[], p_durable boolean)
RETURNS TABLE (id bigint, target text, method_name text, method_args text, encryptor text,
  num_attempts integer, max_attempts integer, queue text, priority smallint,
  idempotence_token text, scheduled_at float8, last_error text, created_at float8, db_now float8)
LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_bitmapscan = off
SET enable_sort = off
AS $$
#variable_conflict use_column
DECLARE
  v_claimed integer := 0;
  v_more integer;
  v_priorities smallint[];
  v_after integer := -32769;
  v_due timestamptz := least(now(), p_horizon);
  -- How many priorities with a due row one pass takes: the first pass one (a busy queue's claim
  -- seldom needs more), the later ones up to 32.
  v_most integer := 1;
  v_first smallint;
  v_first_at timestamptz;
BEGIN
  IF NOT p_durable THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  -- The lowest pending priority, whose first row is due in a busy queue: then the first pass
  -- needs no walk (a plain read of the index's first entry costs a claim 5 % less than it).
  SELECT l.priority, l.scheduled_at INTO v_first, v_first_at FROM {{table}} AS l
  WHERE l.status = 'pending'
  ORDER BY l.priority, l.scheduled_at LIMIT 1;
  IF v_first_at <= v_due THEN
    v_priorities := ARRAY[v_first];
  END IF;
  LOOP
    -- The next priorities with a due row: each step reads a priority's first row (its earliest),
    -- and the walk stops once it has found v_most that are due.
    IF v_priorities IS NULL THEN
      WITH RECURSIVE walk(priority, first_at, found) AS (
        (SELECT n.priority, n.scheduled_at, 0 FROM {{table}} AS n
        WHERE n.status = 'pending' AND n.priority > v_after
        ORDER BY n.priority, n.scheduled_at LIMIT 1)
        UNION ALL
        SELECT x.priority, x.scheduled_at, w.found + (w.first_at <= v_due)::integer
        FROM walk AS w CROSS JOIN LATERAL (
          SELECT n.priority, n.scheduled_at FROM {{table}} AS n
          WHERE n.status = 'pending' AND n.priority > w.priority
          ORDER BY n.priority, n.scheduled_at LIMIT 1) AS x
        WHERE w.found + (w.first_at <= v_due)::integer < v_most)
      SELECT array_agg(w.priority ORDER BY w.priority) INTO v_priorities FROM walk AS w
      WHERE w.first_at <= v_due;
    END IF;
    EXIT WHEN v_priorities IS NULL;
    -- One range of the due index per priority, in order: the LIMIT stops the read.
    RETURN QUERY
    UPDATE {{table}} AS t
    SET status = 'running', num_attempts = t.num_attempts + 1, locked_by = p_locked_by,
      locked_until = now() + p_lease_ms * interval '1 millisecond', updated_at = now()
    WHERE t.id = ANY(ARRAY(
      SELECT d.id FROM {{table}} AS d
      WHERE d.status = 'pending'
        AND d.priority = ANY(v_priorities)
        AND d.scheduled_at <= now()
        AND (p_horizon IS NULL OR d.scheduled_at <= p_horizon)
        AND (p_queues IS NULL OR d.queue = ANY(p_queues))
        AND (p_except IS NULL OR d.queue <> ALL(p_except))
      ORDER BY d.priority, d.scheduled_at, d.id
      LIMIT p_limit - v_claimed
      FOR NO KEY UPDATE SKIP LOCKED))
    RETURNING t.id, t.target, t.method_name, t.method_args, t.encryptor, t.num_attempts,
      t.max_attempts, t.queue, t.priority, t.idempotence_token,
      (extract(epoch FROM t.scheduled_at) * 1000)::float8,
      t.last_error, (extract(epoch FROM t.created_at) * 1000)::float8,
      (extract(epoch FROM now()) * 1000)::float8;
    GET DIAGNOSTICS v_more = ROW_COUNT;
    v_claimed := v_claimed + v_more;
    EXIT WHEN v_claimed >= p_limit;
    v_after := v_priorities[cardinality(v_priorities)];
    v_priorities := NULL;
    v_most := 32;
  END LOOP;
END;
$$;

CREATE OR REPLACE FUNCTION {{schema}}"{{name}}_claim_queues"(p_locked_by text, p_limit integer,
  p_lease_ms float8, p_horizon timestamptz, p_queues text[], p_except text[], p_durable boolean)
RETURNS TABLE (id bigint, target text, method_name text, method_args text, encryptor text,
  num_attempts integer, max_attempts integer, queue text, priority smallint,
  idempotence_token text, scheduled_at float8, last_error text, created_at float8, db_now float8)
LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_bitmapscan = off
SET enable_sort = off
-- The merge of several queues' first rows has to sort, which enable_sort = off prices so high
-- that the server compiled the statement (JIT) on every claim: 146 ms.
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
  v_queues text[];
  v_many boolean;
  v_claimed integer := 0;
  v_more integer;
  v_priority smallint;
  v_names text[];
  v_shares integer[];
  v_at integer;
  v_after integer := -32769;
  v_due timestamptz := least(now(), p_horizon);
BEGIN
  IF NOT p_durable THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  IF p_queues IS NOT NULL THEN
    v_queues := ARRAY(SELECT DISTINCT u.queue FROM unnest(p_queues) AS u(queue));
    v_many := cardinality(v_queues) > 32;
  ELSE
    -- A loose scan: each step reads the first pending entry past the last queue found.
    WITH RECURSIVE found(queue, step) AS (
      (SELECT a.queue, 1 FROM {{table}} AS a WHERE a.status = 'pending' ORDER BY a.queue LIMIT 1)
      UNION ALL
      SELECT (SELECT b.queue FROM {{table}} AS b WHERE b.status = 'pending' AND b.queue > f.queue
          ORDER BY b.queue LIMIT 1), f.step + 1
      FROM found AS f
      WHERE f.queue IS NOT NULL AND f.step <= 32 + coalesce(cardinality(p_except), 0))
    SELECT array_agg(f.queue) FILTER (WHERE f.queue <> ALL(coalesce(p_except, '{}'))),
      bool_or(f.step > 32 + coalesce(cardinality(p_except), 0) AND f.queue IS NOT NULL)
    INTO v_queues, v_many FROM found AS f;
  END IF;
  IF v_many THEN
    RETURN QUERY SELECT * FROM {{schema}}"{{name}}_claim_due"(p_locked_by, p_limit, p_lease_ms,
      p_horizon, p_queues, p_except, p_durable);
    RETURN;
  END IF;
  IF coalesce(cardinality(v_queues), 0) = 0 THEN
    RETURN;
  END IF;
  LOOP
    -- The next priority with a due row: each step reads a priority's first row (its earliest),
    -- and the walk stops at one that is due.
    WITH RECURSIVE walk(priority, first_at) AS (
      (SELECT n.priority, n.scheduled_at FROM {{table}} AS n
      WHERE n.status = 'pending' AND n.priority > v_after
      ORDER BY n.priority, n.scheduled_at LIMIT 1)
      UNION ALL
      SELECT x.priority, x.scheduled_at FROM walk AS w CROSS JOIN LATERAL (
        SELECT n.priority, n.scheduled_at FROM {{table}} AS n
        WHERE n.status = 'pending' AND n.priority > w.priority
        ORDER BY n.priority, n.scheduled_at LIMIT 1) AS x
      WHERE w.first_at > v_due)
    SELECT w.priority INTO v_priority FROM walk AS w WHERE w.first_at <= v_due LIMIT 1;
    EXIT WHEN v_priority IS NULL;
    -- Each queue's share of the claim: all of it for the only one; with several, how many of
    -- the first due rows of them all, in due order, are its.
    IF cardinality(v_queues) = 1 THEN
      v_names := v_queues;
      v_shares := ARRAY[p_limit - v_claimed];
    ELSE
      SELECT array_agg(c.queue), array_agg(c.n) INTO v_names, v_shares FROM (
        SELECT x.queue, count(*)::integer AS n FROM (
          SELECT x.queue FROM unnest(v_queues) AS u(queue)
          CROSS JOIN LATERAL (
            SELECT d.queue, d.scheduled_at, d.id FROM {{table}} AS d
            WHERE d.status = 'pending'
              AND d.queue = ANY(ARRAY[u.queue])
              AND d.priority = v_priority
              AND d.scheduled_at <= now()
              AND (p_horizon IS NULL OR d.scheduled_at <= p_horizon)
            -- The queue first: only the queue-leading due index gives this order (see 0013).
            ORDER BY d.queue, d.priority, d.scheduled_at, d.id
            LIMIT p_limit - v_claimed) AS x
          ORDER BY x.scheduled_at, x.id
          LIMIT p_limit - v_claimed) AS x
        GROUP BY x.queue) AS c;
    END IF;
    FOR v_at IN 1 .. coalesce(cardinality(v_names), 0)
    LOOP
      RETURN QUERY
      UPDATE {{table}} AS t
      SET status = 'running', num_attempts = t.num_attempts + 1, locked_by = p_locked_by,
        locked_until = now() + p_lease_ms * interval '1 millisecond', updated_at = now()
      WHERE t.id = ANY(ARRAY(
        SELECT d.id FROM {{table}} AS d
        WHERE d.status = 'pending'
          AND d.queue = ANY(ARRAY[v_names[v_at]])
          AND d.priority = v_priority
          AND d.scheduled_at <= now()
          AND (p_horizon IS NULL OR d.scheduled_at <= p_horizon)
        ORDER BY d.queue, d.priority, d.scheduled_at, d.id
        LIMIT v_shares[v_at]
        FOR NO KEY UPDATE SKIP LOCKED))
      RETURNING t.id, t.target, t.method_name, t.method_args, t.encryptor, t.num_attempts,
        t.max_attempts, t.queue, t.priority, t.idempotence_token,
        (extract(epoch FROM t.scheduled_at) * 1000)::float8,
        t.last_error, (extract(epoch FROM t.created_at) * 1000)::float8,
        (extract(epoch FROM now()) * 1000)::float8;
      GET DIAGNOSTICS v_more = ROW_COUNT;
      v_claimed := v_claimed + v_more;
    END LOOP;
    EXIT WHEN v_claimed >= p_limit;
    v_after := v_priority;
  END LOOP;
END;
$$;

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
  v_priority smallint;
  v_next smallint;
  v_priorities smallint[];
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
    DELETE FROM {{schema}}"{{name}}_starts" AS s WHERE s.queue = p_queue AND s.started_at <= v_since;
    IF NOT p_rate_per_key THEN
      SELECT least(v_room, p_rate_limit - count(*)) INTO v_room
      FROM {{schema}}"{{name}}_starts" AS s WHERE s.queue = p_queue;
    END IF;
  END IF;
  IF v_room <= 0 THEN
    RETURN;
  END IF;
  LOOP
    -- The next priority of the queue with a due row (each step reads a priority's first row, its
    -- earliest, off the queue-leading index, and the walk stops at one that is due); fair: every
    -- such priority, in one ranking (round-robin spans them).
    v_priorities := '{}';
    LOOP
      WITH RECURSIVE walk(priority, first_at) AS (
        (SELECT n.priority, n.scheduled_at FROM {{table}} AS n
        WHERE n.status = 'pending' AND n.queue = ANY(ARRAY[p_queue]) AND n.priority > v_after
        ORDER BY n.queue, n.priority, n.scheduled_at LIMIT 1)
        UNION ALL
        SELECT x.priority, x.scheduled_at FROM walk AS w CROSS JOIN LATERAL (
          SELECT n.priority, n.scheduled_at FROM {{table}} AS n
          WHERE n.status = 'pending' AND n.queue = ANY(ARRAY[p_queue]) AND n.priority > w.priority
          ORDER BY n.queue, n.priority, n.scheduled_at LIMIT 1) AS x
        WHERE w.first_at > v_due)
      SELECT w.priority INTO v_next FROM walk AS w WHERE w.first_at <= v_due LIMIT 1;
      EXIT WHEN v_next IS NULL;
      v_priorities := v_priorities || v_next;
      v_after := v_next;
      EXIT WHEN NOT p_fair;
    END LOOP;
    EXIT WHEN cardinality(v_priorities) = 0;
    v_priority := v_priorities[1];
    -- NULL: the look by key.
    v_prefix := CASE WHEN p_fair THEN NULL ELSE v_room * 4 + 256 END;
    LOOP
    IF v_prefix IS NOT NULL THEN
      -- The first look: the prefix of the priority's due rows in due order, ranked within keys.
      v_ids := ARRAY(
        SELECT c.id FROM (
          SELECT d.id, d.priority, d.scheduled_at, d.concurrency_key,
            row_number() OVER (PARTITION BY d.concurrency_key
              ORDER BY d.priority, d.scheduled_at, d.id) AS key_rank
          FROM unnest(v_priorities) AS p(priority)
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
        WHERE (c.concurrency_key IS NULL OR c.key_rank <= p_key_concurrency - coalesce(k.running, 0))
          AND (NOT coalesce(p_rate_per_key, false)
            OR c.key_rank <= p_rate_limit - coalesce(w.started, 0))
        ORDER BY c.priority, c.scheduled_at, c.id
        LIMIT v_room);
    ELSE
      -- The look by key, over the priorities from the first to the last of v_priorities (one
      -- priority, or when fair every pending one: none lies between them but those).
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
              AND d.concurrency_key = f.concurrency_key
              AND d.priority BETWEEN v_priorities[1] AND v_priorities[cardinality(v_priorities)]
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
    v_prefix := NULL;
    END LOOP;
    EXIT WHEN v_room <= 0 OR p_fair;
  END LOOP;
END;
$$;
