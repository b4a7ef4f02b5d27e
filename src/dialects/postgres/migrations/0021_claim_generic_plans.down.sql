-- Undoes 0021.
ALTER FUNCTION {{schema}}"{{name}}_claim_due"(text, integer, float8, timestamptz, text[], text[],
  boolean) RESET plan_cache_mode;
ALTER FUNCTION {{schema}}"{{name}}_claim_queues"(text, integer, float8, timestamptz, text[],
  text[], boolean) RESET plan_cache_mode;
ALTER FUNCTION {{schema}}"{{name}}_claim_limited"(text, integer, float8, timestamptz, text,
  integer, integer, boolean, integer, float8, boolean, boolean) RESET plan_cache_mode;
