-- <name>_enqueue as 0006 made it read its options more loosely than MySQL's procedure and than
-- enqueue(): a scheduledAt without an offset was read in the session's TimeZone (hours off for a
-- trigger in a session that is not UTC; MySQL and the README take it as UTC), a priority given
-- as a JSON string or a fraction was cast, a bad scheduledAt failed with PostgreSQL's own error,
-- and a target or method longer than any worker could store elsewhere was taken. Now as MySQL's:
-- JSON integers only, scheduledAt ISO 8601 (UTC without an offset), target at most 200
-- characters, method at most 255, each refusal an `async-task enqueue:` error.
CREATE OR REPLACE FUNCTION {{schema}}"{{name}}_enqueue"(p_target text, p_method text,
  p_args jsonb DEFAULT NULL, p_options jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_options jsonb := coalesce(p_options, '{}');
  v_unknown text;
  v_queue text;
  v_priority integer;
  v_max_attempts integer;
  v_token text;
  v_value jsonb;
  v_scheduled_text text;
  v_scheduled_at timestamptz;
  v_id bigint;
BEGIN
  IF jsonb_typeof(v_options) <> 'object' THEN
    RAISE EXCEPTION 'async-task enqueue: options must be a JSON object, got %', v_options
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT string_agg(key, ', ' ORDER BY key) INTO v_unknown FROM jsonb_object_keys(v_options) AS key
  WHERE key NOT IN ('queue', 'priority', 'maxAttempts', 'scheduledAt', 'idempotenceToken');
  IF v_unknown IS NOT NULL THEN
    RAISE EXCEPTION 'async-task enqueue: unknown option(s) %; the options are queue, priority, maxAttempts, scheduledAt, idempotenceToken', v_unknown
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF coalesce(p_target, '') = '' OR coalesce(p_method, '') = '' THEN
    RAISE EXCEPTION 'async-task enqueue: target and method are required'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  v_queue := coalesce(v_options->>'queue', 'default');
  IF v_queue !~ '^[A-Za-z0-9_.:-]{1,100}$' THEN
    RAISE EXCEPTION 'async-task enqueue: queue % is not valid; use 1-100 letters, digits, _ . : -', v_queue
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF length(p_target) > 200 OR length(p_method) > 255 THEN
    RAISE EXCEPTION 'async-task enqueue: target may have at most 200 characters, method at most 255'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- JSON integers only, as on MySQL: a string or a fraction is refused, not cast.
  v_value := v_options->'priority';
  IF v_value IS NULL OR v_value = 'null' THEN
    v_priority := 0;
  ELSIF jsonb_typeof(v_value) <> 'number' OR v_value::text::numeric <> trunc(v_value::text::numeric)
    OR v_value::text::numeric NOT BETWEEN -32768 AND 32767 THEN
    RAISE EXCEPTION 'async-task enqueue: priority must be an integer from -32768 to 32767, got %', left(v_value::text, 30)
      USING ERRCODE = 'invalid_parameter_value';
  ELSE
    v_priority := v_value::text::numeric::integer;
  END IF;
  v_value := v_options->'maxAttempts';
  IF v_value IS NULL OR v_value = 'null' THEN
    v_max_attempts := 25;
  ELSIF jsonb_typeof(v_value) <> 'number' OR v_value::text::numeric <> trunc(v_value::text::numeric)
    OR v_value::text::numeric NOT BETWEEN 1 AND 2147483647 THEN
    RAISE EXCEPTION 'async-task enqueue: maxAttempts must be at least 1 (an integer up to 2147483647), got %', left(v_value::text, 30)
      USING ERRCODE = 'invalid_parameter_value';
  ELSE
    v_max_attempts := v_value::text::numeric::integer;
  END IF;
  -- ISO 8601; without an offset it is UTC, as on MySQL (the session's TimeZone is not read).
  v_scheduled_text := v_options->>'scheduledAt';
  IF v_scheduled_text IS NULL THEN
    v_scheduled_at := now();
  ELSIF jsonb_typeof(v_options->'scheduledAt') <> 'string'
    OR v_scheduled_text !~ '^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}(:?\d{2})?)?)?$' THEN
    RAISE EXCEPTION 'async-task enqueue: scheduledAt must be an ISO 8601 time such as 2026-01-31T09:30:00Z, got %', left(v_options->>'scheduledAt', 30)
      USING ERRCODE = 'invalid_parameter_value';
  ELSE
    BEGIN
      IF v_scheduled_text ~ ':\d{2}(\.\d+)?([Zz]|[+-]\d{2}(:?\d{2})?)$' THEN
        v_scheduled_at := v_scheduled_text::timestamptz;
      ELSE
        v_scheduled_at := v_scheduled_text::timestamp AT TIME ZONE 'UTC';
      END IF;
    EXCEPTION WHEN data_exception THEN
      RAISE EXCEPTION 'async-task enqueue: scheduledAt must be an ISO 8601 time such as 2026-01-31T09:30:00Z, got %', left(v_scheduled_text, 30)
        USING ERRCODE = 'invalid_parameter_value';
    END;
  END IF;
  v_token := v_options->>'idempotenceToken';
  IF v_token IS NOT NULL AND length(v_token) NOT BETWEEN 1 AND 255 THEN
    RAISE EXCEPTION 'async-task enqueue: idempotenceToken must be a string of 1-255 characters'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  LOOP
    INSERT INTO {{table}} (target, method_name, method_args, max_attempts, queue, priority,
      idempotence_token, scheduled_at)
    VALUES (p_target, p_method, p_args::text, v_max_attempts, v_queue, v_priority, v_token,
      v_scheduled_at)
    ON CONFLICT (target, method_name, idempotence_token) WHERE idempotence_token IS NOT NULL
      DO NOTHING
    RETURNING id INTO v_id;
    IF v_id IS NOT NULL THEN
      RETURN v_id;
    END IF;
    SELECT id INTO v_id FROM {{table}}
    WHERE target = p_target AND method_name = p_method AND idempotence_token = v_token;
    IF v_id IS NOT NULL THEN
      RETURN v_id;
    END IF;
  END LOOP;
END;
$$;
