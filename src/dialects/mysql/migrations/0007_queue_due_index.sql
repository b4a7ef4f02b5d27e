-- The claim of a queue with flow control reads that queue's due rows in due order; the claim
-- index holds every queue's, so that read stepped over every other queue's pending rows first
-- (the PostgreSQL dialect's migration 0011 says what that cost). This index leads with the
-- status and the queue. InnoDB has no partial index, so every status change writes it, as it
-- writes the claim index; InnoDB builds it online.
ALTER TABLE {{table}} ADD INDEX queue_due_idx (status, queue, priority, scheduled_at, id);
