// The worker registry's statements (`{{workers}}`, migration 0005), beside queries.ts and bound
// with it. A handful of rows, one per worker, each written once per heartbeat: no statement here
// is on a task's path. Times are DATETIME(3) in UTC like the attempts'.

import { epochMs } from './sql-parts.js';

// First half of a beat: this worker's row inserted (at its first beat) or refreshed. VALUES()
// rather than a row alias, which MariaDB lacks.
export const workerUpsert = `
INSERT INTO {{workers}} (id, hostname, pid, queues, concurrency, running, started_at,
  last_seen_at, alive_until)
VALUES (?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3),
  UTC_TIMESTAMP(3) + INTERVAL (? * 1000) MICROSECOND)
ON DUPLICATE KEY UPDATE hostname = VALUES(hostname), pid = VALUES(pid), queues = VALUES(queues),
  concurrency = VALUES(concurrency), running = VALUES(running),
  last_seen_at = VALUES(last_seen_at), alive_until = VALUES(alive_until)`;

// The database's clock (see Executor.databaseNow).
export const databaseNow = `SELECT ${epochMs('UTC_TIMESTAMP(3)')} AS now_ms`;

// Second half: the rows of workers dead for over an hour, through the index on alive_until.
export const workerDeleteDead = `
DELETE FROM {{workers}} WHERE alive_until < UTC_TIMESTAMP(3) - INTERVAL 1 HOUR`;

export const workerDelete = `DELETE FROM {{workers}} WHERE id = ?`;

export const workerListAlive = `
SELECT id, hostname, pid, queues, concurrency, running, ${epochMs('started_at')} AS started_at,
  ${epochMs('last_seen_at')} AS last_seen_at, ${epochMs('alive_until')} AS alive_until
FROM {{workers}}
WHERE alive_until > UTC_TIMESTAMP(3)
ORDER BY started_at, id`;
