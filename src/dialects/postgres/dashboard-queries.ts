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
// that stops at the first row passing the prefix and length checks. The range can hold another
// schedule's tokens (`a:3:…` sorts among `a:…`'s, and a linguistic collation, which ignores
// punctuation, mixes more in); the checks step over them. A schedule's own tokens differ only in
// their instants, digits at fixed places, so any collation sorts them in time. The checks are one
// CASE, which the planner cannot estimate and takes for an even chance: written as two
// equalities, they looked so selective (1 row in 40,000) that it read the whole range and sorted
// it, 440 ms for 40,000 ticks (test/dashboard/postgres-plans.test.ts checks the plan).
export const attemptGetLastInTokenRange = `
SELECT ${columns} FROM {{table}}
WHERE target = $1::text AND method_name = $2::text
  AND idempotence_token >= $3::text AND idempotence_token <= $4::text
  AND CASE WHEN left(idempotence_token, length($5::text)) = $5::text
    THEN length(idempotence_token) = length($3::text) ELSE false END
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
