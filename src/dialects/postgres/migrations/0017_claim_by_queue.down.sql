-- Undoes 0017.
DROP FUNCTION {{schema}}"{{name}}_claim_queues"(text, integer, float8, timestamptz, text[],
  text[], boolean);
