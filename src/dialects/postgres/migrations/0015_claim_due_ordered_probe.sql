-- The claim of migration 0012 (<name>_claim_due), its priority probes written as an ordered read
-- of the first row instead of min(). min() lets the planner choose between the first entry of
-- the due index and an aggregate over a whole scan of any partial index of pending rows, and with
-- statistics taken before the backlog arrived (every index of pending rows thought empty) the two
-- cost the same: beside migration 14's key-leading index it scanned that one, all of it, on every
-- claim (200 ms per claim with 1,000,000 pending; a drain beside 5,000,000 finished attempts ran at
-- 10,000/s instead of 60,000). Ordered by priority, with sorting disabled as the function has it,
-- only the due index can answer. Signature, plan settings and everything else are 0012's.
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
  v_priority smallint;
BEGIN
  IF NOT p_durable THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  SELECT l.priority INTO v_priority FROM {{table}} AS l WHERE l.status = 'pending'
  ORDER BY l.priority LIMIT 1;
  WHILE v_priority IS NOT NULL LOOP
    RETURN QUERY
    UPDATE {{table}} AS t
    SET status = 'running', num_attempts = t.num_attempts + 1, locked_by = p_locked_by,
      locked_until = now() + p_lease_ms * interval '1 millisecond', updated_at = now()
    WHERE t.id = ANY(ARRAY(
      SELECT d.id FROM {{table}} AS d
      WHERE d.status = 'pending'
        AND d.priority = v_priority
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
    SELECT n.priority INTO v_priority FROM {{table}} AS n
    WHERE n.status = 'pending' AND n.priority > v_priority
    ORDER BY n.priority LIMIT 1;
  END LOOP;
END;
$$;
