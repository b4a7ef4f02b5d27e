-- The registry of live workers (tasks.workers(), the dashboard's Workers page, `async-task
-- workers`): one row per running worker, keyed by its id (the `locked_by` of the attempts it
-- holds). A worker writes its row when it starts, refreshes it at every heartbeat (one upsert of
-- this row, whatever it holds: nothing per task) and deletes it when it stops. A worker that died
-- leaves its row, which stops counting as alive at alive_until (its last beat plus three
-- heartbeat intervals, at least the lease) and is deleted by any worker's beat an hour after
-- that, through the index on alive_until. queues: a JSON array of those it claims from; NULL for
-- every queue. running: the attempts it held at its last beat. Times in milliseconds since the
-- epoch, like every time here.
CREATE TABLE "{{name}}_workers" (
  id TEXT PRIMARY KEY,
  hostname TEXT NOT NULL,
  pid INTEGER NOT NULL,
  queues TEXT,
  concurrency INTEGER NOT NULL,
  running INTEGER NOT NULL DEFAULT 0,
  started_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  alive_until INTEGER NOT NULL
);
CREATE INDEX "{{name}}_workers_alive_idx" ON "{{name}}_workers" (alive_until);
