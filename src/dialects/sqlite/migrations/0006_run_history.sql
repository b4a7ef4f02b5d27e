-- A bounded history of the runs that did not succeed (the PostgreSQL dialect's migration 0010
-- says what it holds), as JSON text. Nullable without a default: SQLite adds it without
-- rewriting the table.
ALTER TABLE {{table}} ADD COLUMN runs TEXT;
