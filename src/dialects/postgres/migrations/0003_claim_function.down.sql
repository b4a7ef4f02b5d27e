-- Undoes 0003.
DROP FUNCTION {{schema}}"{{name}}_claim"(text, integer, float8, timestamptz, text[], boolean);
