// The worker registry's statements (`<name>_workers`, migration 0005), beside queries.ts, whose
// conventions they follow. A handful of rows, one per worker, each written once per heartbeat: no
// statement here is on a task's path. Each takes the write lock like every write (see queries.ts).

/** The current time in whole milliseconds, as in queries.ts. */
const nowMs = `CAST(round(unixepoch('subsec') * 1000) AS INTEGER)`;

// First half of a beat: this worker's row inserted (at its first beat) or refreshed.
export const workerUpsert = `
INSERT INTO "{{name}}_workers" (id, hostname, pid, queues, concurrency, running, started_at,
  last_seen_at, alive_until)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ${nowMs}, ${nowMs}, ${nowMs} + ?7)
ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, pid = excluded.pid,
  queues = excluded.queues, concurrency = excluded.concurrency, running = excluded.running,
  last_seen_at = excluded.last_seen_at, alive_until = excluded.alive_until`;

// The database's clock (see Executor.databaseNow): this process's own, as SQLite runs in it.
export const databaseNow = `SELECT ${nowMs} AS now_ms`;

// Second half: the rows of workers dead for over an hour, through the index on alive_until.
export const workerDeleteDead = `
DELETE FROM "{{name}}_workers" WHERE alive_until < ${nowMs} - 3600000`;

export const workerDelete = `DELETE FROM "{{name}}_workers" WHERE id = ?1`;

export const workerListAlive = `
SELECT id, hostname, pid, queues, concurrency, running, started_at, last_seen_at, alive_until
FROM "{{name}}_workers"
WHERE alive_until > ${nowMs}
ORDER BY started_at, id`;
