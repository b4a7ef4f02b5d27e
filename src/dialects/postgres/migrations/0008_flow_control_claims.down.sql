-- Undoes 0008.
DROP FUNCTION {{schema}}"{{name}}_claim_limited"(text, integer, float8, timestamptz, text, integer, integer, boolean, integer, float8, boolean, boolean);
DROP TABLE {{schema}}"{{name}}_starts";
DROP FUNCTION {{schema}}"{{name}}_claim_except"(text, integer, float8, timestamptz, text[], boolean);
