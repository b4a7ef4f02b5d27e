-- The claims of migrations 0003 and 0008 (<name>_claim, <name>_claim_except), walking the due index
-- one priority at a time. The due index is ordered by (priority, scheduled_at, id) and holds every
-- pending row, those scheduled for later too. One ordered walk with `scheduled_at <= now()` could
-- not stop at a priority's first future row (only an equal priority makes the due time a bound of
-- the walk), so a claim that found fewer due rows than its limit read every pending row: with
-- 1,000,000 attempts scheduled for tomorrow, each claim of an idle worker, and each pickup, read a
-- million index entries (about 16 ms of the server's CPU) to find nothing or a few rows.
-- Now each priority that has pending rows, found in order by a probe of the index's edge, is
-- walked from its first due row to its first row due later and leased in one statement, until
-- the limit is reached: the cost follows the rows claimed and the number of priorities, not the
-- rows scheduled for later. A busy queue's claim is one probe and one UPDATE; an idle one, one
-- probe. The rows are locked as they are chosen (SKIP LOCKED), and each UPDATE returns its rows
-- (RETURN QUERY adds them up). Both claims now call <name>_claim_due, which takes both filters;
-- their signatures, plan settings, durability and returned columns are 0003's and 0008's.
CREATE FUNCTION {{schema}}"{{name}}_claim_due"(p_locked_by text, p_limit integer,
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
  SELECT min(l.priority) INTO v_priority FROM {{table}} AS l WHERE l.status = 'pending';
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
    SELECT min(n.priority) INTO v_priority FROM {{table}} AS n
    WHERE n.status = 'pending' AND n.priority > v_priority;
  END LOOP;
END;
$$;

CREATE OR REPLACE FUNCTION {{schema}}"{{name}}_claim"(p_locked_by text, p_limit integer,
  p_lease_ms float8, p_horizon timestamptz, p_queues text[], p_durable boolean)
RETURNS TABLE (id bigint, target text, method_name text, method_args text, encryptor text,
  num_attempts integer, max_attempts integer, queue text, priority smallint,
  idempotence_token text, scheduled_at float8, last_error text, created_at float8, db_now float8)
LANGUAGE sql
AS $$
  SELECT * FROM {{schema}}"{{name}}_claim_due"(p_locked_by, p_limit, p_lease_ms, p_horizon,
    p_queues, NULL, p_durable)
$$;

CREATE OR REPLACE FUNCTION {{schema}}"{{name}}_claim_except"(p_locked_by text, p_limit integer,
  p_lease_ms float8, p_horizon timestamptz, p_except text[], p_durable boolean)
RETURNS TABLE (id bigint, target text, method_name text, method_args text, encryptor text,
  num_attempts integer, max_attempts integer, queue text, priority smallint,
  idempotence_token text, scheduled_at float8, last_error text, created_at float8, db_now float8)
LANGUAGE sql
AS $$
  SELECT * FROM {{schema}}"{{name}}_claim_due"(p_locked_by, p_limit, p_lease_ms, p_horizon,
    NULL, p_except, p_durable)
$$;
