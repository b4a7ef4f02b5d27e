-- Undoes 0002: the claim index without the queue. One statement, applied whole or not at all.
ALTER TABLE {{table}} DROP INDEX due_idx, ADD INDEX due_idx (status, priority, scheduled_at, id);
