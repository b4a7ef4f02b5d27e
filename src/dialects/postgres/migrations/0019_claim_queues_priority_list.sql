-- <name>_claim_queues (0018) took one priority per pass: a walk to it, each queue's share of it,
-- and an update per queue, three statements or more for each priority. A worker given
-- `queues: ['default', 'other']`, draining 20,000 due attempts of 20,000 priorities, ran at 5,124
-- tasks/s against 47,651 in one priority (1,000 priorities: 30,760). Its later passes now take up
-- to 32 priorities with a due row, as <name>_claim_due's do (0018), and its first pass reads the
-- lowest pending priority plainly as that one's does. The queue column leads the index these
-- claims read, after which PostgreSQL 15 reads `priority = ANY(...)` as a filter over the queue's
-- whole stretch; so each priority of the list is read on its own (a lateral join over the list in
-- order), and lazily: a priority's rows are read only once those of the ones before it fell short
-- of the claim. With one queue, rows are locked as they are read; with several, each
-- (queue, priority)'s share of the claim is counted first, then all of them are leased in one
-- update. Everything else is as in 0018.
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
  v_priorities smallint[];
  v_names text[];
  v_levels smallint[];
  v_shares integer[];
  v_after integer := -32769;
  v_due timestamptz := least(now(), p_horizon);
  v_most integer := 1;
  v_first smallint;
  v_first_at timestamptz;
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
  SELECT l.priority, l.scheduled_at INTO v_first, v_first_at FROM {{table}} AS l
  WHERE l.status = 'pending'
  ORDER BY l.priority, l.scheduled_at LIMIT 1;
  IF v_first_at <= v_due THEN
    v_priorities := ARRAY[v_first];
  END IF;
  LOOP
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
    IF cardinality(v_queues) = 1 THEN
      -- The list's order is the function scan's (its ordinality), so the nested loop needs no
      -- sort, and the LIMIT stops it: rows past the claim are neither read nor locked.
      RETURN QUERY
      UPDATE {{table}} AS t
      SET status = 'running', num_attempts = t.num_attempts + 1, locked_by = p_locked_by,
        locked_until = now() + p_lease_ms * interval '1 millisecond', updated_at = now()
      WHERE t.id = ANY(ARRAY(
        SELECT x.id FROM unnest(v_priorities) WITH ORDINALITY AS p(priority, at)
        CROSS JOIN LATERAL (
          SELECT d.id FROM {{table}} AS d
          WHERE d.status = 'pending'
            AND d.queue = ANY(v_queues)
            AND d.priority = p.priority
            AND d.scheduled_at <= now()
            AND (p_horizon IS NULL OR d.scheduled_at <= p_horizon)
          ORDER BY d.queue, d.priority, d.scheduled_at, d.id
          LIMIT p_limit - v_claimed
          FOR NO KEY UPDATE SKIP LOCKED) AS x
        ORDER BY p.at
        LIMIT p_limit - v_claimed))
      RETURNING t.id, t.target, t.method_name, t.method_args, t.encryptor, t.num_attempts,
        t.max_attempts, t.queue, t.priority, t.idempotence_token,
        (extract(epoch FROM t.scheduled_at) * 1000)::float8,
        t.last_error, (extract(epoch FROM t.created_at) * 1000)::float8,
        (extract(epoch FROM now()) * 1000)::float8;
    ELSE
      -- How many of the first due rows of them all, priority by priority in due order, are each
      -- queue's in each priority: the incremental sort orders one priority's rows at a time.
      SELECT array_agg(c.queue), array_agg(c.priority), array_agg(c.n)
      INTO v_names, v_levels, v_shares FROM (
        SELECT x.queue, x.priority, count(*)::integer AS n FROM (
          SELECT d.queue, p.priority FROM unnest(v_priorities) WITH ORDINALITY AS p(priority, at)
          CROSS JOIN LATERAL (
            SELECT d.queue, d.scheduled_at, d.id FROM unnest(v_queues) AS u(queue)
            CROSS JOIN LATERAL (
              SELECT d.queue, d.scheduled_at, d.id FROM {{table}} AS d
              WHERE d.status = 'pending'
                AND d.queue = ANY(ARRAY[u.queue])
                AND d.priority = p.priority
                AND d.scheduled_at <= now()
                AND (p_horizon IS NULL OR d.scheduled_at <= p_horizon)
              -- The queue first: only the queue-leading due index gives this order (see 0013).
              ORDER BY d.queue, d.priority, d.scheduled_at, d.id
              LIMIT p_limit - v_claimed) AS d) AS d
          ORDER BY p.at, d.scheduled_at, d.id
          LIMIT p_limit - v_claimed) AS x
        GROUP BY x.queue, x.priority) AS c;
      RETURN QUERY
      UPDATE {{table}} AS t
      SET status = 'running', num_attempts = t.num_attempts + 1, locked_by = p_locked_by,
        locked_until = now() + p_lease_ms * interval '1 millisecond', updated_at = now()
      WHERE t.id = ANY(ARRAY(
        SELECT x.id FROM unnest(v_names, v_levels, v_shares) AS s(queue, priority, n)
        CROSS JOIN LATERAL (
          SELECT d.id FROM {{table}} AS d
          WHERE d.status = 'pending'
            AND d.queue = ANY(ARRAY[s.queue])
            AND d.priority = s.priority
            AND d.scheduled_at <= now()
            AND (p_horizon IS NULL OR d.scheduled_at <= p_horizon)
          ORDER BY d.queue, d.priority, d.scheduled_at, d.id
          LIMIT s.n
          FOR NO KEY UPDATE SKIP LOCKED) AS x))
      RETURNING t.id, t.target, t.method_name, t.method_args, t.encryptor, t.num_attempts,
        t.max_attempts, t.queue, t.priority, t.idempotence_token,
        (extract(epoch FROM t.scheduled_at) * 1000)::float8,
        t.last_error, (extract(epoch FROM t.created_at) * 1000)::float8,
        (extract(epoch FROM now()) * 1000)::float8;
    END IF;
    GET DIAGNOSTICS v_more = ROW_COUNT;
    v_claimed := v_claimed + v_more;
    EXIT WHEN v_claimed >= p_limit;
    v_after := v_priorities[cardinality(v_priorities)];
    v_priorities := NULL;
    v_most := 32;
  END LOOP;
END;
$$;
