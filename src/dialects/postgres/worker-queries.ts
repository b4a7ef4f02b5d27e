// The worker registry's statements (`<name>_workers`, migration 0009), beside queries.ts, whose
// conventions they follow; `{{workers}}` is the registry's quoted name. A handful of rows, one
// per worker, each written once per heartbeat: no statement here is on a task's path.

const epochMs = (column: string): string => `(extract(epoch FROM ${column}) * 1000)::float8`;

// One beat: this worker's row inserted (at its first beat) or refreshed, and the rows of workers
// dead for over an hour deleted, through the index on alive_until. Its own row is left out of the
// delete (a worker back from a long pause writes it again, and one statement must not both delete
// and update a row). Racing beats of two workers touch different rows; a delete that meets a row
// being refreshed waits for it and then finds it alive.
export const workerBeat = `
WITH dead AS (
  DELETE FROM {{workers}}
  WHERE alive_until < now() - interval '1 hour' AND id <> $1)
INSERT INTO {{workers}} (id, hostname, pid, queues, concurrency, running, started_at,
  last_seen_at, alive_until)
VALUES ($1, $2, $3,
  CASE WHEN $4::json IS NULL THEN NULL ELSE ARRAY(SELECT json_array_elements_text($4::json)) END,
  $5, $6, now(), now(), now() + $7::float8 * interval '1 millisecond')
ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, pid = excluded.pid,
  queues = excluded.queues, concurrency = excluded.concurrency, running = excluded.running,
  last_seen_at = excluded.last_seen_at, alive_until = excluded.alive_until`;

export const workerDelete = `DELETE FROM {{workers}} WHERE id = $1`;

// The database's clock (see Executor.databaseNow): the statement's time, not its transaction's.
export const databaseNow = `SELECT ${epochMs('statement_timestamp()')} AS now_ms`;

// The live workers, by the database's clock. A plain read of a tiny table.
export const workerListAlive = `
SELECT id, hostname, pid, array_to_json(queues)::text AS queues, concurrency, running,
  ${epochMs('started_at')} AS started_at, ${epochMs('last_seen_at')} AS last_seen_at,
  ${epochMs('alive_until')} AS alive_until
FROM {{workers}}
WHERE alive_until > now()
ORDER BY started_at, id`;
