-- Undoes 0023: <name>_enqueue as 0006 made it.
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
  v_priority := coalesce((v_options->>'priority')::integer, 0);
  IF v_priority NOT BETWEEN -32768 AND 32767 THEN
    RAISE EXCEPTION 'async-task enqueue: priority must be an integer from -32768 to 32767, got %', v_priority
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  v_max_attempts := coalesce((v_options->>'maxAttempts')::integer, 25);
  IF v_max_attempts < 1 THEN
    RAISE EXCEPTION 'async-task enqueue: maxAttempts must be at least 1, got %', v_max_attempts
      USING ERRCODE = 'invalid_parameter_value';
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
      coalesce((v_options->>'scheduledAt')::timestamptz, now()))
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
