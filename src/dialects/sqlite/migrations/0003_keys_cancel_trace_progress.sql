-- Columns for flow control, cancellation, tracing and progress (the PostgreSQL dialect's
-- migration 0007 says what each holds). cancel_requested_at is milliseconds since the epoch,
-- like every time here. Nullable without defaults: SQLite adds them without rewriting the table.
ALTER TABLE {{table}} ADD COLUMN concurrency_key TEXT;
ALTER TABLE {{table}} ADD COLUMN cancel_requested_at INTEGER;
ALTER TABLE {{table}} ADD COLUMN trace_context TEXT;
ALTER TABLE {{table}} ADD COLUMN progress REAL;
ALTER TABLE {{table}} ADD COLUMN progress_message TEXT;
