-- Enqueueing from SQL (triggers, the mysql client, other languages), as the PostgreSQL dialect's
-- <table>_enqueue function does (its migration 0006):
--   CALL <table>_enqueue(target, method, args, options, @id);
-- writes the row tasks.enqueue() writes for plain (unencrypted) arguments and sets @id to the
-- attempt's id. args: JSON text or NULL; options: a JSON object or NULL, with enqueue()'s
-- queue, priority, maxAttempts, scheduledAt (ISO 8601; without an offset it is UTC, the time zone
-- the table holds: the session's time_zone is not read) and idempotenceToken. Target and method
-- are not checked against any registry: a worker that does not know them fails the attempt.
--
-- A procedure, not a function: MySQL with binary logging (its default) refuses to create a
-- function that writes unless the creator has SUPER or log_bin_trust_function_creators is set, and
-- a function's writes replicate badly under statement-based logging. A trigger can CALL it: it
-- commits nothing, runs no dynamic SQL and returns no result set. SQL SECURITY INVOKER, as
-- PostgreSQL functions are by default: the caller needs INSERT and SELECT on the table.
--
-- Idempotence: a token already taken for the same target and method sets the existing attempt's
-- id and writes nothing. The plain INSERT waits, on the unique idempotence index, for a
-- concurrent transaction holding the token, as enqueue() does; a duplicate (error 1062) is
-- caught, and the winner's row is read with a locking read through that index (the newest
-- committed version, whatever the caller's isolation level). If it was deleted in between
-- (pruned), the insert is tried again (a few times: a duplicate on a unique index of the user's
-- own is an error, not a loop). As with enqueue(), when the holder rolls back while several
-- callers wait, InnoDB makes all but one of them deadlock victims.
--
-- Written to behave the same whatever sql_mode it is created under (a routine keeps its
-- creator's): every value is checked here, dates by their parts before any CAST (which strict
-- mode would make an error, and lax mode a NULL), strings are single-quoted, and there are no
-- backslashes. scheduledAt is checked for stray characters before its anchored pattern, since
-- MariaDB's `$` also matches before a final line break. It holds no `?` either, which some
-- migration tools (knex.raw) would take for a parameter. Its name is `<table>_enqueue`, or,
-- past MySQL's 64 characters, the name cut short with a hash (see bound-statements.ts).
--
-- The body runs from the line `BEGIN` to the line `END;`: one statement, whatever semicolons it
-- holds. DROP first: the procedure outlives a dropped table, and a migration tool that applies
-- every migration again to recreate the table must not fail on it.
DROP PROCEDURE IF EXISTS {{enqueue}};

CREATE PROCEDURE {{enqueue}}(IN p_target TEXT CHARACTER SET utf8mb4,
  IN p_method TEXT CHARACTER SET utf8mb4, IN p_args LONGTEXT CHARACTER SET utf8mb4,
  IN p_options LONGTEXT CHARACTER SET utf8mb4, OUT p_id BIGINT UNSIGNED)
MODIFIES SQL DATA
SQL SECURITY INVOKER
BEGIN
  DECLARE v_options LONGTEXT CHARACTER SET utf8mb4 DEFAULT COALESCE(p_options, '{}');
  DECLARE v_value LONGTEXT CHARACTER SET utf8mb4;
  DECLARE v_unknown LONGTEXT CHARACTER SET utf8mb4;
  DECLARE v_queue LONGTEXT CHARACTER SET utf8mb4 DEFAULT 'default';
  DECLARE v_priority DECIMAL(65, 0) DEFAULT 0;
  DECLARE v_max_attempts DECIMAL(65, 0) DEFAULT 25;
  DECLARE v_token LONGTEXT CHARACTER SET utf8mb4;
  DECLARE v_time VARCHAR(64) CHARACTER SET utf8mb4;
  DECLARE v_zone VARCHAR(8) CHARACTER SET utf8mb4 DEFAULT '';
  DECLARE v_offset INT DEFAULT 0;
  DECLARE v_scheduled_at DATETIME(3);
  DECLARE v_message VARCHAR(512) CHARACTER SET utf8mb4;
  DECLARE v_duplicate BOOLEAN DEFAULT FALSE;
  DECLARE v_tries INT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR 1062 SET v_duplicate = TRUE;

  IF CASE WHEN JSON_VALID(v_options) THEN JSON_TYPE(v_options) <> 'OBJECT' ELSE TRUE END THEN
    SET v_message = CONCAT('async-task enqueue: options must be a JSON object, got ', LEFT(v_options, 60));
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
  END IF;
  SELECT GROUP_CONCAT(k.name ORDER BY k.name SEPARATOR ', ') INTO v_unknown
  FROM JSON_TABLE(JSON_KEYS(v_options), '$[*]' COLUMNS (name LONGTEXT CHARACTER SET utf8mb4 PATH '$')) AS k
  WHERE k.name COLLATE utf8mb4_bin NOT IN ('queue', 'priority', 'maxAttempts', 'scheduledAt', 'idempotenceToken');
  IF v_unknown IS NOT NULL THEN
    SET v_message = LEFT(CONCAT('async-task enqueue: unknown option(s) ', v_unknown, '; the options are queue, priority, maxAttempts, scheduledAt, idempotenceToken'), 128);
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
  END IF;
  IF COALESCE(CHAR_LENGTH(p_target), 0) = 0 OR COALESCE(CHAR_LENGTH(p_method), 0) = 0 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'async-task enqueue: target and method are required';
  END IF;
  IF CHAR_LENGTH(p_target) > 200 OR CHAR_LENGTH(p_method) > 255 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'async-task enqueue: target may have at most 200 characters, method at most 255';
  END IF;
  IF p_args IS NOT NULL AND NOT JSON_VALID(p_args) THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'async-task enqueue: args must be JSON text, or NULL';
  END IF;

  SET v_value = JSON_EXTRACT(v_options, '$.queue');
  IF COALESCE(JSON_TYPE(v_value), 'NULL') <> 'NULL' THEN
    SET v_queue = IF(JSON_TYPE(v_value) = 'STRING', JSON_UNQUOTE(v_value), v_value);
  END IF;
  IF CHAR_LENGTH(v_queue) NOT BETWEEN 1 AND 100 OR v_queue REGEXP '[^A-Za-z0-9_.:-]' THEN
    SET v_message = LEFT(CONCAT('async-task enqueue: queue ', LEFT(v_queue, 40), ' is not valid; use 1-100 letters, digits, _ . : -'), 128);
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
  END IF;
  SET v_value = JSON_EXTRACT(v_options, '$.priority');
  IF COALESCE(JSON_TYPE(v_value), 'NULL') <> 'NULL' THEN
    IF JSON_TYPE(v_value) NOT IN ('INTEGER', 'UNSIGNED INTEGER') THEN
      SET v_priority = NULL;
    ELSE
      SET v_priority = CAST(v_value AS DECIMAL(65, 0));
    END IF;
    IF v_priority IS NULL OR v_priority NOT BETWEEN -32768 AND 32767 THEN
      SET v_message = LEFT(CONCAT('async-task enqueue: priority must be an integer from -32768 to 32767, got ', LEFT(v_value, 30)), 128);
      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;
  END IF;
  SET v_value = JSON_EXTRACT(v_options, '$.maxAttempts');
  IF COALESCE(JSON_TYPE(v_value), 'NULL') <> 'NULL' THEN
    IF JSON_TYPE(v_value) NOT IN ('INTEGER', 'UNSIGNED INTEGER') THEN
      SET v_max_attempts = NULL;
    ELSE
      SET v_max_attempts = CAST(v_value AS DECIMAL(65, 0));
    END IF;
    IF v_max_attempts IS NULL OR v_max_attempts NOT BETWEEN 1 AND 2147483647 THEN
      SET v_message = LEFT(CONCAT('async-task enqueue: maxAttempts must be at least 1 (an integer up to 2147483647), got ', LEFT(v_value, 30)), 128);
      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;
  END IF;
  SET v_value = JSON_EXTRACT(v_options, '$.idempotenceToken');
  IF COALESCE(JSON_TYPE(v_value), 'NULL') <> 'NULL' THEN
    SET v_token = JSON_UNQUOTE(v_value);
    IF JSON_TYPE(v_value) <> 'STRING' OR CHAR_LENGTH(v_token) NOT BETWEEN 1 AND 255 THEN
      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'async-task enqueue: idempotenceToken must be a string of 1-255 characters';
    END IF;
  END IF;
  SET v_value = JSON_EXTRACT(v_options, '$.scheduledAt');
  IF COALESCE(JSON_TYPE(v_value), 'NULL') <> 'NULL' THEN
    IF JSON_TYPE(v_value) = 'STRING' AND CHAR_LENGTH(JSON_UNQUOTE(v_value)) <= 64 THEN
      SET v_time = UPPER(JSON_UNQUOTE(v_value));
    END IF;
    IF v_time IS NULL OR v_time REGEXP '[^0-9TZ:. +-]' OR NOT v_time REGEXP '^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+){0,1}){0,1}(Z|[+-][0-9]{2}(:{0,1}[0-9]{2}){0,1}){0,1}){0,1}$' THEN
      SET v_time = NULL;
    ELSE
      IF CHAR_LENGTH(v_time) > 10 THEN
        SET v_zone = COALESCE(REGEXP_SUBSTR(SUBSTRING(v_time, 11), '(Z|[+-].*)$'), '');
      END IF;
      IF v_zone NOT IN ('', 'Z') THEN
        SET v_offset = (CAST(SUBSTRING(v_zone, 2, 2) AS UNSIGNED) * 60
          + IF(CHAR_LENGTH(v_zone) > 3, CAST(RIGHT(v_zone, 2) AS UNSIGNED), 0))
          * IF(LEFT(v_zone, 1) = '-', -1, 1);
      END IF;
      SET v_time = REPLACE(LEFT(v_time, CHAR_LENGTH(v_time) - CHAR_LENGTH(v_zone)), 'T', ' ');
      IF LOCATE('.', v_time) > 0 THEN
        SET v_time = LEFT(v_time, LOCATE('.', v_time) + 3);
      END IF;
      SET v_time = CONCAT(v_time, SUBSTRING('0000-00-00 00:00:00.000', CHAR_LENGTH(v_time) + 1));
      IF CAST(SUBSTRING(v_time, 6, 2) AS UNSIGNED) BETWEEN 1 AND 12
        AND CAST(SUBSTRING(v_time, 9, 2) AS UNSIGNED)
          BETWEEN 1 AND DAY(LAST_DAY(CONCAT(LEFT(v_time, 7), '-01')))
        AND CAST(SUBSTRING(v_time, 12, 2) AS UNSIGNED) < 24
        AND CAST(SUBSTRING(v_time, 15, 2) AS UNSIGNED) < 60
        AND CAST(SUBSTRING(v_time, 18, 2) AS UNSIGNED) < 60 THEN
        SET v_scheduled_at = CAST(v_time AS DATETIME(3)) - INTERVAL v_offset MINUTE;
      END IF;
    END IF;
    IF v_scheduled_at IS NULL OR YEAR(v_scheduled_at) NOT BETWEEN 1000 AND 9999 THEN
      SET v_message = LEFT(CONCAT('async-task enqueue: scheduledAt must be an ISO 8601 time such as 2026-01-31T09:30:00Z, got ', LEFT(v_value, 30)), 128);
      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;
  END IF;

  insert_or_find: LOOP
    SET v_duplicate = FALSE;
    INSERT INTO {{table}} (target, method_name, method_args, max_attempts, queue, priority,
      idempotence_token, scheduled_at, created_at, updated_at)
    VALUES (p_target, p_method, p_args, v_max_attempts, v_queue, v_priority, v_token,
      COALESCE(v_scheduled_at, UTC_TIMESTAMP(3)), UTC_TIMESTAMP(3), UTC_TIMESTAMP(3));
    IF NOT v_duplicate THEN
      SET p_id = LAST_INSERT_ID();
      LEAVE insert_or_find;
    END IF;
    SET v_tries = v_tries + 1;
    IF v_token IS NULL OR v_tries > 10 THEN
      SIGNAL SQLSTATE '23000' SET MESSAGE_TEXT = 'async-task enqueue: the insert hit a duplicate key that is not its idempotence token (a unique index of your own)';
    END IF;
    SET p_id = NULL;
    SELECT t.id INTO p_id FROM {{table}} AS t FORCE INDEX (idempotence_idx)
    WHERE t.idempotence_key = UNHEX(SHA2(CONCAT(p_target, 0x00, p_method, 0x00, v_token), 256))
    LOCK IN SHARE MODE;
    IF p_id IS NOT NULL THEN
      LEAVE insert_or_find;
    END IF;
  END LOOP;
END;
