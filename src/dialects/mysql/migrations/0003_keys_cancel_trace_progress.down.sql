-- Undoes 0003: the columns for flow control, cancellation, tracing and progress.
ALTER TABLE {{table}} DROP COLUMN concurrency_key,
  DROP COLUMN cancel_requested_at,
  DROP COLUMN trace_context,
  DROP COLUMN progress,
  DROP COLUMN progress_message;
