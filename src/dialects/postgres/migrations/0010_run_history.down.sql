-- Undoes 0010: the run history.
ALTER TABLE {{table}} DROP COLUMN runs;
