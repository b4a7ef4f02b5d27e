-- The claims of a queue with flow control (<name>_claim_limited, migration 8) read that queue's
-- due rows in due order. The due index holds every queue's, so that read stepped over every other
-- queue's due rows first: with a backlog of 100,000 in an unlimited queue, each claim of an empty
-- limited queue read all of them, and a worker with a few limited queues claimed its unlimited
-- ones at a tenth of their rate. This index leads with the queue. Partial like the due index: a
-- row enters it when enqueued (or retried) and leaves when claimed; the claim's own update
-- writes nothing to it, and queues without limits are never read through it.
CREATE INDEX "{{name}}_queue_due_idx" ON {{table}} (queue, priority, scheduled_at, id)
  WHERE status = 'pending';
