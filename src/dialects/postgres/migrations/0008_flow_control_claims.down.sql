-- Undoes 0008.
DROP FUNCTION {{schema}}"{{name}}_claim_limited"(text, integer, float8, timestamptz, text, integer, integer, boolean, boolean);
DROP FUNCTION {{schema}}"{{name}}_claim_except"(text, integer, float8, timestamptz, text[], boolean);
