-- Undoes 0008.
ALTER TABLE {{table}} DROP INDEX queue_key_due_idx, DROP COLUMN pending_queue;
