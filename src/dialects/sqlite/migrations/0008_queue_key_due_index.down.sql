-- Undoes 0008.
DROP INDEX "{{name}}_queue_key_due_idx";
