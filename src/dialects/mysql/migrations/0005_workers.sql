-- The registry of live workers (tasks.workers(), the dashboard's Workers page, `async-task
-- workers`): one row per running worker, keyed by its id (the `locked_by` of the attempts it
-- holds). A worker writes its row when it starts, refreshes it at every heartbeat (one upsert of
-- this row, whatever it holds: nothing per task) and deletes it when it stops. A worker that died
-- leaves its row, which stops counting as alive at alive_until (its last beat plus three
-- heartbeat intervals, at least the lease) and is deleted by any worker's beat an hour after
-- that, through the index on alive_until. queues: a JSON array of those it claims from (as text,
-- which every client returns as it is); NULL for every queue. running: the attempts it held at
-- its last beat.
--
-- Named after the attempts table (`<name>_workers`; a long name is shortened and hashed, see
-- bound-statements.ts). IF NOT EXISTS: DDL commits each statement, so a migration cut short
-- before the version marker that follows is run again.
CREATE TABLE IF NOT EXISTS {{workers}} (
  id VARCHAR(255) NOT NULL,
  hostname VARCHAR(255) NOT NULL,
  pid INT NOT NULL,
  queues LONGTEXT NULL,
  concurrency INT NOT NULL,
  running INT NOT NULL DEFAULT 0,
  started_at DATETIME(3) NOT NULL,
  last_seen_at DATETIME(3) NOT NULL,
  alive_until DATETIME(3) NOT NULL,
  PRIMARY KEY (id),
  KEY alive_idx (alive_until)
) ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
