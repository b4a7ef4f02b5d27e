-- Undoes 0019: <name>_claim_queues as 0018 left it.
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
