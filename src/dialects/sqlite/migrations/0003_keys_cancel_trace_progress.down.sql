-- Undoes 0003: the columns for flow control, cancellation, tracing and progress.
ALTER TABLE {{table}} DROP COLUMN concurrency_key;
ALTER TABLE {{table}} DROP COLUMN cancel_requested_at;
ALTER TABLE {{table}} DROP COLUMN trace_context;
ALTER TABLE {{table}} DROP COLUMN progress;
ALTER TABLE {{table}} DROP COLUMN progress_message;
