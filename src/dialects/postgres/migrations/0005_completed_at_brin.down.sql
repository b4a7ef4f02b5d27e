-- Undoes 0005: the dashboard's outcomes per minute read the table without the BRIN index.
DROP INDEX {{schema}}"{{name}}_completed_brin_idx";
