-- The attempts table: the same columns and meaning as the PostgreSQL dialect's. Times are INTEGER
-- milliseconds since the Unix epoch (UTC), so ordering and lease arithmetic are exact integer
-- operations; ids never repeat (AUTOINCREMENT), even after the newest rows are pruned.
-- STRICT: a value of the wrong type (a Date bound as text, say) is refused instead of stored.
-- Each statement ends with a semicolon at the end of its line: the migrator splits on that.
CREATE TABLE {{table}} (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  target TEXT NOT NULL,
  method_name TEXT NOT NULL,
  method_args TEXT,
  encryptor TEXT,
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'expired')),
  num_attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL DEFAULT 25 CHECK (max_attempts >= 1),
  queue TEXT NOT NULL DEFAULT 'default',
  priority INTEGER NOT NULL DEFAULT 0 CHECK (priority BETWEEN -32768 AND 32767),
  idempotence_token TEXT,
  scheduled_at INTEGER NOT NULL DEFAULT (CAST(round(unixepoch('subsec') * 1000) AS INTEGER)),
  completed_at INTEGER,
  locked_by TEXT,
  locked_until INTEGER,
  last_error TEXT,
  created_at INTEGER NOT NULL DEFAULT (CAST(round(unixepoch('subsec') * 1000) AS INTEGER)),
  updated_at INTEGER NOT NULL DEFAULT (CAST(round(unixepoch('subsec') * 1000) AS INTEGER))
) STRICT;

-- Enqueueing the same token twice returns the first row.
CREATE UNIQUE INDEX "{{name}}_idempotence_idx" ON {{table}} (target, method_name, idempotence_token)
  WHERE idempotence_token IS NOT NULL;

-- The claim: due pending rows in priority then due-time order; partial, so finished rows cost nothing.
CREATE INDEX "{{name}}_due_idx" ON {{table}} (priority, scheduled_at, id) WHERE status = 'pending';

-- The rescuer: running rows by lease expiry.
CREATE INDEX "{{name}}_lease_idx" ON {{table}} (locked_until) WHERE status = 'running';

-- Listing failed and expired attempts, newest first. Partial, so claims and successes never touch
-- it: an index on every status would cost two index insertions per task. Other statuses are
-- listed along the primary key.
CREATE INDEX "{{name}}_finished_badly_idx" ON {{table}} (status, id)
  WHERE status IN ('failed', 'expired');
