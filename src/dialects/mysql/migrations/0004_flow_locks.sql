-- One row per queue with flow control (the AsyncTask's `queues` option), written and locked by
-- the limited claim: its transaction takes the row's exclusive lock (INSERT … ON DUPLICATE KEY
-- UPDATE, which locks the existing row exclusively) before it counts running attempts, so the
-- limited claims of a queue run one at a time and racing workers never exceed its limits. The
-- lock goes with the claim's transaction, whatever happens to the process. Queues without limits
-- never touch this table.
--
-- The starts of rate-limited queues: one row per claim of such a queue, written by the limited
-- claim in its transaction (under the queue's lock row) and counted over the sliding window; the
-- claim first deletes its queue's rows that have left the window, so the table holds about one
-- window of starts. Queues without a rate limit never touch it.
--
-- Named after the attempts table (`<name>_flow`, `<name>_starts`; a long name is shortened and
-- hashed, see bound-statements.ts). DDL commits each statement, so a migration cut short between
-- them is run again: the first is IF NOT EXISTS; the version marker on the attempts table follows
-- the last.
CREATE TABLE IF NOT EXISTS {{starts}} (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  queue VARCHAR(100) NOT NULL,
  concurrency_key VARCHAR(255) NULL,
  started_at DATETIME(3) NOT NULL,
  PRIMARY KEY (id),
  KEY starts_idx (queue, started_at)
) ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;

CREATE TABLE {{flow}} (
  queue VARCHAR(100) NOT NULL,
  PRIMARY KEY (queue)
) ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
