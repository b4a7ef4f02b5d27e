-- Undoes 0007.
ALTER TABLE {{table}} DROP INDEX queue_due_idx;
