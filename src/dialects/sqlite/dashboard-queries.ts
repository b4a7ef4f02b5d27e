// SQLite statements that only the dashboard runs, bound with queries.ts (the same substitutions
// and numbered placeholders). Plain reads.

/** Every column, as the row mapper expects them (as in queries.ts). */
const columns = `CAST(id AS TEXT) AS id, target, method_name, method_args, encryptor, status,
  num_attempts, max_attempts, queue, priority, idempotence_token, scheduled_at, completed_at,
  locked_by, locked_until, last_error, progress, progress_message, created_at, updated_at,
  trace_context`;

// A schedule's newest tick attempt: equality on target and method and a range on the token, a
// backward walk of the idempotence index (the range implies its `token IS NOT NULL`) stopped at
// the first row passing the prefix and length checks. BINARY collation: the range holds only
// tokens with the prefix, and the checks step over the rare one of another family.
export const attemptGetLastInTokenRange = `
SELECT ${columns} FROM {{table}} INDEXED BY "{{name}}_idempotence_idx"
WHERE target = ?1 AND method_name = ?2
  AND idempotence_token >= ?3 AND idempotence_token <= ?4
  AND substr(idempotence_token, 1, length(?5)) = ?5
  AND length(idempotence_token) = length(?3)
ORDER BY idempotence_token DESC
LIMIT 1`;

/** The current time in whole milliseconds (as in queries.ts). */
const nowMs = `CAST(round(unixepoch('subsec') * 1000) AS INTEGER)`;

// The starts a rate-limited claim of queue ?1 counts now (those of the last ?2 ms), across the
// queue and for its busiest concurrency key, through the starts index (queue, started_at).
export const startCount = `
SELECT concurrency_key, count(*) AS started, sum(count(*)) OVER () AS total
FROM "{{name}}_starts"
WHERE queue = ?1 AND started_at > ${nowMs} - ?2
GROUP BY concurrency_key
ORDER BY started DESC, concurrency_key
LIMIT 1`;
