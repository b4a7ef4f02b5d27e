-- Undoes 0007.
DROP INDEX "{{name}}_queue_due_idx";
