-- The starts of rate-limited queues (the AsyncTask's `queues: { q: { rateLimit } }`): one row per
-- claim of such a queue, written by the limited claim in its transaction and counted over the
-- sliding window; the claim deletes its queue's rows that have left the window, so the table
-- holds about one window of starts. started_at is milliseconds since the epoch, like every time
-- here. Queues without a rate limit never touch this table.
CREATE TABLE "{{name}}_starts" (
  queue TEXT NOT NULL,
  concurrency_key TEXT,
  started_at INTEGER NOT NULL
);
CREATE INDEX "{{name}}_starts_idx" ON "{{name}}_starts" (queue, started_at);
