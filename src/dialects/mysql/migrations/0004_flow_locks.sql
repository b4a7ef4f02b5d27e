-- One row per queue with flow control (the AsyncTask's `queues` option), written and locked by
-- the limited claim: its transaction takes the row's exclusive lock (INSERT … ON DUPLICATE KEY
-- UPDATE, which locks the existing row exclusively) before it counts running attempts, so the
-- limited claims of a queue run one at a time and racing workers never exceed its limits. The
-- lock goes with the claim's transaction, whatever happens to the process. Queues without limits
-- never touch this table.
--
-- Named after the attempts table (`<name>_flow`; a long name is shortened and hashed, see
-- flowTable in executor.ts). One statement: whole or not at all; the version marker on the
-- attempts table follows it.
CREATE TABLE {{flow}} (
  queue VARCHAR(100) NOT NULL,
  PRIMARY KEY (queue)
) ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
