-- A bounded history of the runs that did not succeed, newest last, as a JSON array (see
-- RunRecord in src/core/attempt.ts): each entry {n, by, startedAt, endedAt, outcome, error},
-- times in epoch milliseconds. Appended by the completion of a retried, failed or cancelled run
-- and by the rescue of a lease that ran out; at most 20 entries, the oldest dropped first. A
-- succeeded run writes nothing to it, so the success path is unchanged. NULL until the first run
-- that did not succeed. Nullable without a default: adding it rewrites nothing.
ALTER TABLE {{table}} ADD COLUMN runs jsonb;
