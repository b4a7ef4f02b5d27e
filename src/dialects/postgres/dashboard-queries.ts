// PostgreSQL statements that only the dashboard runs, bound with queries.ts (the same
// substitutions, and {{starts}}, the starts table of migration 0008). Plain reads: they lock
// nothing.

import { attemptColumns } from '../attempt-rows.js';

const columns = attemptColumns(
  '',
  (column) => column,
  (column) => `(extract(epoch FROM ${column}) * 1000)::float8`,
);

// A schedule's newest tick attempt: equality on target and method and a range on the token, a
// backward walk of the idempotence index (the range implies the index's `token IS NOT NULL`)
// that stops at the first row passing the prefix and length checks, which are filters: under a
// linguistic collation the range may hold another schedule's tokens (collations that ignore
// punctuation sort `a:1:…` among `a:…`), and only those are stepped over. A schedule's own tokens
// differ only in their instants, digits at fixed places, so any collation sorts them in time.
export const attemptGetLastInTokenRange = `
SELECT ${columns} FROM {{table}}
WHERE target = $1::text AND method_name = $2::text
  AND idempotence_token >= $3::text AND idempotence_token <= $4::text
  AND left(idempotence_token, length($5::text)) = $5::text
  AND length(idempotence_token) = length($3::text)
ORDER BY idempotence_token DESC
LIMIT 1`;

// The starts a rate-limited claim of queue $1 counts now (those of the last $2 ms), across the
// queue and for its busiest concurrency key: a range of the starts index (queue, started_at),
// which holds about one window of starts (the claim deletes older ones).
export const startCount = `
SELECT concurrency_key, count(*)::float8 AS started, (sum(count(*)) OVER ())::float8 AS total
FROM {{starts}}
WHERE queue = $1::text AND started_at > now() - $2::float8 * interval '1 millisecond'
GROUP BY concurrency_key
ORDER BY started DESC, concurrency_key
LIMIT 1`;
