-- A bounded history of the runs that did not succeed (the PostgreSQL dialect's migration 0010
-- says what it holds), as JSON text: LONGTEXT like method_args and last_error, which reads back
-- the same on MySQL 8.0 (whose JSON type is binary) and MariaDB (whose JSON is LONGTEXT).
-- Nullable without a default, appended at the end, so InnoDB adds it instantly.
ALTER TABLE {{table}} ADD COLUMN runs LONGTEXT NULL;
