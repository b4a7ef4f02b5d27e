-- Columns for flow control, cancellation, tracing and progress (the PostgreSQL dialect's
-- migration 0007 says what each holds). Nullable without defaults, appended at the end, so
-- InnoDB adds them instantly on MySQL 8.0 and MariaDB 10.6. One statement: whole or not at all.
ALTER TABLE {{table}} ADD COLUMN concurrency_key VARCHAR(255) NULL,
  ADD COLUMN cancel_requested_at DATETIME(3) NULL,
  ADD COLUMN trace_context VARCHAR(1024) NULL,
  ADD COLUMN progress DOUBLE NULL,
  ADD COLUMN progress_message VARCHAR(1000) NULL;
