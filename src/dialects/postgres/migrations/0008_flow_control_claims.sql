-- Claims for queues with flow control (the AsyncTask's `queues` option), beside the claim of
-- migration 0003, which stays the only statement a queue without limits ever runs.
--
-- <name>_claim_except: migration 0003's claim for every queue but those with limits (a worker
-- with no queue list, when some queues have limits: their attempts are only claimed below). The
-- same statement, plan settings and durability as 0003, with one more filter on the queue.
--
-- <name>_claim_limited: a claim from one queue that keeps its limits across every claimer:
--   p_concurrency      most running attempts of the queue (NULL: no limit);
--   p_key_concurrency  most running attempts per concurrency_key (rows without a key: no limit);
--   p_fair             take attempts round-robin across keys (each key's first due, then its
--                      second, ...) instead of in due order;
--   p_rate_limit       most starts (claims) in any sliding window of p_rate_period_ms, across
--                      the queue, or per concurrency_key when p_rate_per_key (rows without a key
--                      share one count); NULL: no rate limit.
-- Starts are rows of <name>_starts, written by the claim in its transaction, stamped with the
-- clock read after the lock (clock_timestamp(), not the transaction's start: a claim that waited
-- for the lock would otherwise record a start earlier than ones already counted), so starts are
-- recorded in time order and checking the window that ends at each claim keeps every window
-- within the limit. A rate-limited claim first deletes its queue's starts that left the window:
-- each start is written once and deleted once, so the table holds about one window of starts.
-- Race-free: a transaction-scoped advisory lock on (table, queue) serialises the limited claims
-- of a queue, and it is taken before anything is counted. Each statement of a plpgsql function
-- reads a new snapshot under READ COMMITTED, and the lock is released only after the previous
-- holder's commit is visible, so the counts below include every earlier claim. Only claims raise
-- the counts (completion, release and rescue lower them), so nothing else needs the lock. Running
-- rows are counted through the lease index (exactly the running rows: few). An expired lease
-- still counts until the rescuer returns its row to pending.
-- The candidates are the queue's due pending rows, ranked within their key, read along the due
-- index. First only the first v_room * 4 + 256 of them in due order: a row's rank within its key
-- is the same in any due-order prefix as in the whole backlog, so when that prefix yields the
-- room the claim is exactly the one over the whole backlog, at a cost that does not grow with
-- the backlog. Only when it yields less (a short backlog, or a prefix crowded with busy keys'
-- rows), and always for fairness (round-robin needs each key's first rows, wherever they are),
-- the rest of the room is claimed over every due row: a cost in proportion to the backlog.
-- Rows are taken without SKIP LOCKED (no other claimer takes rows of this queue while the lock
-- is held); the UPDATE re-checks `pending`, so a row expired meanwhile is left alone. The second
-- pass sees the first's claims and starts (a later statement of the same transaction).
CREATE OR REPLACE FUNCTION {{schema}}"{{name}}_claim_except"(p_locked_by text, p_limit integer,
  p_lease_ms float8, p_horizon timestamptz, p_except text[], p_durable boolean)
RETURNS TABLE (id bigint, target text, method_name text, method_args text, encryptor text,
  num_attempts integer, max_attempts integer, queue text, priority smallint,
  idempotence_token text, scheduled_at float8, last_error text, created_at float8, db_now float8)
LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_bitmapscan = off
SET enable_sort = off
AS $$
#variable_conflict use_column
BEGIN
  IF NOT p_durable THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  RETURN QUERY
  UPDATE {{table}} AS t
  SET status = 'running', num_attempts = t.num_attempts + 1, locked_by = p_locked_by,
    locked_until = now() + p_lease_ms * interval '1 millisecond', updated_at = now()
  WHERE t.id = ANY(ARRAY(
    SELECT d.id FROM {{table}} AS d
    WHERE d.status = 'pending'
      AND d.scheduled_at <= now()
      AND (p_horizon IS NULL OR d.scheduled_at <= p_horizon)
      AND d.queue <> ALL(p_except)
    ORDER BY d.priority, d.scheduled_at, d.id
    LIMIT p_limit
    FOR NO KEY UPDATE SKIP LOCKED))
  RETURNING t.id, t.target, t.method_name, t.method_args, t.encryptor, t.num_attempts,
    t.max_attempts, t.queue, t.priority, t.idempotence_token,
    (extract(epoch FROM t.scheduled_at) * 1000)::float8,
    t.last_error, (extract(epoch FROM t.created_at) * 1000)::float8,
    (extract(epoch FROM now()) * 1000)::float8;
END;
$$;

CREATE TABLE {{schema}}"{{name}}_starts" (
  queue text NOT NULL,
  concurrency_key text,
  started_at timestamptz NOT NULL
);

CREATE INDEX "{{name}}_starts_idx" ON {{schema}}"{{name}}_starts" (queue, started_at);

CREATE OR REPLACE FUNCTION {{schema}}"{{name}}_claim_limited"(p_locked_by text, p_limit integer,
  p_lease_ms float8, p_horizon timestamptz, p_queue text, p_concurrency integer,
  p_key_concurrency integer, p_fair boolean, p_rate_limit integer, p_rate_period_ms float8,
  p_rate_per_key boolean, p_durable boolean)
RETURNS TABLE (id bigint, target text, method_name text, method_args text, encryptor text,
  num_attempts integer, max_attempts integer, queue text, priority smallint,
  idempotence_token text, scheduled_at float8, last_error text, created_at float8, db_now float8)
LANGUAGE plpgsql
-- The first look must walk the queue's due rows in order and stop, never read them all with a
-- bitmap scan and sort them (a test counts the index tuples read). The counts of running attempts
-- and starts per key are joined to the ranked rows by hash: with the estimates of a table without
-- statistics (one row everywhere) the planner nested the loops, and a claim in a queue of 1,000
-- keys compared every ranked row with every busy key, 130 ms for its first look and seconds for
-- a full read (test/integration/postgres-flow-claim-cost.test.ts reads the plans).
SET enable_seqscan = off
SET enable_bitmapscan = off
SET enable_nestloop = off
AS $$
#variable_conflict use_column
DECLARE
  v_room integer := p_limit;
  v_now timestamptz;
  v_since timestamptz;
  v_prefix integer;
  v_claimed integer;
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
  -- NULL: LIMIT ALL, every due row.
  v_prefix := CASE WHEN p_fair THEN NULL ELSE v_room * 4 + 256 END;
  LOOP
  RETURN QUERY
  WITH claimed AS (
  UPDATE {{table}} AS t
  SET status = 'running', num_attempts = t.num_attempts + 1, locked_by = p_locked_by,
    locked_until = now() + p_lease_ms * interval '1 millisecond', updated_at = now()
  -- Still pending (not expired meanwhile), written so that it does not match the partial
  -- indexes' predicate: the planner, thinking the queue-leading index small, read all of it to
  -- find the claimed ids instead of looking them up by primary key (60 ms for a claim of 100).
  WHERE t.status IS NOT DISTINCT FROM 'pending' AND t.id = ANY(ARRAY(
    SELECT c.id FROM (
      SELECT d.id, d.priority, d.scheduled_at, d.concurrency_key,
        row_number() OVER (PARTITION BY d.concurrency_key
          ORDER BY d.priority, d.scheduled_at, d.id) AS key_rank
      FROM (
        SELECT d.id, d.priority, d.scheduled_at, d.concurrency_key FROM {{table}} AS d
        WHERE d.status = 'pending'
          AND d.scheduled_at <= now()
          AND (p_horizon IS NULL OR d.scheduled_at <= p_horizon)
          -- The queue as a range of one value, ordered by first: an equality would make the
          -- planner drop it from the order, which the all-queues due index then gives too, and
          -- it walked that index, stepping over other queues' rows, where it guessed them few.
          AND d.queue >= p_queue AND d.queue <= p_queue
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
    ORDER BY CASE WHEN p_fair THEN c.key_rank END, c.priority, c.scheduled_at, c.id
    LIMIT v_room))
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
  EXIT WHEN v_room <= 0 OR v_prefix IS NULL;
  v_prefix := NULL;
  END LOOP;
END;
$$;
