-- Undoes 0006: the run history.
ALTER TABLE {{table}} DROP COLUMN runs;
