-- Columns for flow control, cancellation, tracing and progress, added together so that the
-- features built on them share one schema version:
--   concurrency_key      the key a per-key concurrency limit, rate limit or fair claim groups by;
--   cancel_requested_at  when tasks.cancel() asked a running attempt to stop (its worker aborts
--                        the handler's signal and records the attempt expired);
--   trace_context        the enqueuing span's W3C trace context (traceparent, tracestate), so the
--                        run's span can link to it; never arguments;
--   progress             the handler's last reported fraction done, 0 to 1, and its message.
-- Nullable without defaults: adding them rewrites nothing and takes a moment on any size.
ALTER TABLE {{table}}
  ADD COLUMN concurrency_key text,
  ADD COLUMN cancel_requested_at timestamptz,
  ADD COLUMN trace_context text,
  ADD COLUMN progress real,
  ADD COLUMN progress_message text;
