-- The claim of a queue with flow control reads that queue's due rows in due order; the due index
-- holds every queue's, so that read stepped over every other queue's due rows first (the
-- PostgreSQL dialect's migration 0011 says what that cost). This one leads with the queue;
-- partial like the due index.
CREATE INDEX "{{name}}_queue_due_idx" ON {{table}} (queue, priority, scheduled_at, id)
  WHERE status = 'pending';
