// MySQL statements that only the dashboard runs, bound with queries.ts (the same substitutions,
// the same positional parameters). Plain reads: they lock nothing.

import { columns, text } from './sql-parts.js';

// A schedule's newest tick attempt among the tokens of the JSON array (its most recent ticks):
// the idempotence index holds a hash of target, method and token, so it finds exact tokens but
// cannot be read as a range. One lookup per token, the newest found wins. Parameters: target,
// method, the tokens. Rows under an enqueue's marker are filtered by the executor.
export const attemptGetLastInTokenRange = `
SELECT ${columns('t.')}
FROM JSON_TABLE(?, '$[*]' COLUMNS (idempotence_token ${text} PATH '$')) AS k
  STRAIGHT_JOIN {{table}} AS t FORCE INDEX (idempotence_idx)
    ON t.idempotence_key = UNHEX(SHA2(CONCAT(?, 0x00, ?, 0x00, k.idempotence_token), 256))
ORDER BY t.idempotence_token DESC
LIMIT 1`;

// The starts a rate-limited claim of a queue counts now (those of the last given milliseconds),
// across the queue and for its busiest concurrency key, through the starts index (queue,
// started_at), as flowCountStarts reads them.
export const startCount = `
SELECT concurrency_key, COUNT(*) AS started, SUM(COUNT(*)) OVER () AS total
FROM {{starts}}
WHERE queue = ? AND started_at > UTC_TIMESTAMP(3) - INTERVAL ? * 1000 MICROSECOND
GROUP BY concurrency_key
ORDER BY started DESC, concurrency_key
LIMIT 1`;
