-- A keyed claim's look past its first (see key-walk-queries.ts) walks the queue's keys: a loose
-- scan of this index (one step per key with pending rows), then each free key's first due rows
-- from the same stretch of it. Before, that look ranked a wider prefix of the due rows of every
-- queue and stopped once a look took nothing, so a key whose backlog filled the front of the
-- queue hid the keys behind it until its whole backlog had run.
--
-- InnoDB has no partial index: `pending_queue` holds the queue while the attempt is pending and
-- NULL otherwise, so a finished attempt's entry never changes again (one entry per enqueue, one
-- change per claim and per retry; an index over the status and the queue would change at every
-- outcome too). A plain column, not a generated one: MariaDB does not loose-scan an index over a
-- generated column, and reading every pending entry of a queue took 100-180 ms per claim at
-- 100,000. Inserts fill it by default (enqueue, and the <table>_enqueue procedure); every
-- statement that changes an attempt's status sets it (queries.ts). Rows without a key are one
-- group of the index per queue.
--
-- The column and the index are one statement: InnoDB adds a nullable column instantly and builds
-- the index online, writes going on meanwhile. The default and the backfill of the attempts
-- pending now follow; both can run again, so a migration cut short after the first is finished
-- by running it again once the first statement's column is dropped.
ALTER TABLE {{table}} ADD COLUMN pending_queue VARCHAR(100) NULL,
  ADD INDEX queue_key_due_idx (pending_queue, concurrency_key, priority, scheduled_at, id);

ALTER TABLE {{table}} ALTER COLUMN pending_queue SET DEFAULT (queue);

UPDATE {{table}} SET pending_queue = queue WHERE status = 'pending' AND pending_queue IS NULL;
