-- Wakes listening workers when due attempts are inserted. Statement-level, with a transition
-- table: one pg_notify per queue per INSERT statement, and PostgreSQL folds identical
-- notifications of one transaction into one, so a transaction sends at most one per queue.
CREATE OR REPLACE FUNCTION {{schema}}"{{name}}_notify_due"() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  due_queue text;
BEGIN
  FOR due_queue IN SELECT DISTINCT queue FROM new_rows WHERE scheduled_at <= now() LOOP
    PERFORM pg_notify('{{channel}}', due_queue);
  END LOOP;
  RETURN NULL;
END;
$$;

CREATE TRIGGER "{{name}}_notify_due"
  AFTER INSERT ON {{table}}
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}"{{name}}_notify_due"();
