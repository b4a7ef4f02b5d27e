-- Undoes 0011.
DROP INDEX {{schema}}"{{name}}_queue_due_idx";
