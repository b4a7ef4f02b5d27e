-- The claim functions' statements were planned again on every call: PL/pgSQL keeps a custom plan
-- for a statement until its generic plan looks as cheap, and theirs never did, so each claim paid
-- for planning its walk, its look and its update (0.10-0.36 ms of a claim of 50 that took 1.2-1.8
-- ms beside 200,000 pending). Their plans are pinned by their other settings (an ordered walk of
-- an index, whatever the numbers), so the generic plan is the same plan: measured with
-- auto_explain, and checked by the plan tests, which see only generic plans from here on.
ALTER FUNCTION {{schema}}"{{name}}_claim_due"(text, integer, float8, timestamptz, text[], text[],
  boolean) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION {{schema}}"{{name}}_claim_queues"(text, integer, float8, timestamptz, text[],
  text[], boolean) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION {{schema}}"{{name}}_claim_limited"(text, integer, float8, timestamptz, text,
  integer, integer, boolean, integer, float8, boolean, boolean)
  SET plan_cache_mode = force_generic_plan;
