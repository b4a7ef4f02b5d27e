-- The attempts table: the Ruby gem's columns plus what the worker needs (queue, priority,
-- max_attempts, lease, last error). MySQL 8.0.13+ / MariaDB 10.6+, InnoDB.
--
-- One statement per migration file where possible: DDL commits implicitly in MySQL, so a file of
-- several statements could stop half-applied; one CREATE TABLE (indexes inside it) is atomic.
-- Statements are separated by a `;` at the end of a line, and contain none otherwise.
--
-- Times are DATETIME(3) holding UTC (written from UTC_TIMESTAMP(3)), so no session time_zone
-- shifts them and they reach year 9999 (TIMESTAMP stops in 2038). Text is utf8mb4 compared by
-- code point (utf8mb4_bin): 'Order-7' and 'order-7' are different tokens, as in PostgreSQL.
--
-- Idempotence: MySQL has no partial unique index, and a unique index on the three text columns
-- would not fit the key length limit (and would pad trailing spaces). The key is the SHA-256 of
-- target, method and token; NULL when the token is NULL, and NULLs never collide in a unique index.
--
-- Indexes: no partial indexes either, so the claim index leads with status, which also serves
-- listing and pruning by status; the lease index serves the rescuer (running rows by expiry) and
-- finds the rows an enqueue marked (see queries.ts).
CREATE TABLE {{table}} (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  target VARCHAR(200) NOT NULL,
  method_name VARCHAR(255) NOT NULL,
  method_args LONGTEXT NULL,
  encryptor VARCHAR(64) NULL,
  status VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT 'pending',
  num_attempts INT NOT NULL DEFAULT 0,
  max_attempts INT NOT NULL DEFAULT 25,
  queue VARCHAR(100) NOT NULL DEFAULT 'default',
  priority SMALLINT NOT NULL DEFAULT 0,
  idempotence_token VARCHAR(255) NULL,
  idempotence_key BINARY(32) GENERATED ALWAYS AS
    (UNHEX(SHA2(CONCAT(target, 0x00, method_name, 0x00, idempotence_token), 256))) STORED,
  scheduled_at DATETIME(3) NOT NULL DEFAULT (UTC_TIMESTAMP(3)),
  completed_at DATETIME(3) NULL,
  locked_by VARCHAR(255) NULL,
  locked_until DATETIME(3) NULL,
  last_error LONGTEXT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT (UTC_TIMESTAMP(3)),
  updated_at DATETIME(3) NOT NULL DEFAULT (UTC_TIMESTAMP(3)),
  PRIMARY KEY (id),
  UNIQUE KEY idempotence_idx (idempotence_key),
  KEY due_idx (status, priority, scheduled_at, id),
  KEY lease_idx (locked_until),
  CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'expired')),
  CHECK (max_attempts >= 1)
) ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
