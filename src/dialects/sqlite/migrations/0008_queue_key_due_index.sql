-- A keyed claim's look past its first (see key-walk-queries.ts) walks the queue's keys: one step
-- of this index per key with pending rows, then each free key's first due rows from the same
-- stretch of it. Before, that look ranked a wider prefix of the queue's due rows and stopped once
-- a look took nothing, so a key whose backlog filled the front of the queue hid the keys behind
-- it until its whole backlog had run. Rows without a key are one group of it per queue. One more
-- index entry per enqueue and retry, none per claim or outcome (partial, as the due indexes).
CREATE INDEX "{{name}}_queue_key_due_idx" ON {{table}} (queue, concurrency_key, priority,
  scheduled_at, id) WHERE status = 'pending';
