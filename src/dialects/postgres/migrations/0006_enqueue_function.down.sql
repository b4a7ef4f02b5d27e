-- Undoes 0006.
DROP FUNCTION {{schema}}"{{name}}_enqueue"(text, text, jsonb, jsonb);
