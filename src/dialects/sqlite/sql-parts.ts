/** Every column, as the row mapper expects them. */
export const columns = `CAST(id AS TEXT) AS id, target, method_name, method_args, encryptor, status,
  num_attempts, max_attempts, queue, priority, idempotence_token, scheduled_at, completed_at,
  locked_by, locked_until, last_error, progress, progress_message, created_at, updated_at,
  trace_context`;

/** The current time in whole milliseconds, as SQLite tells it. */
export const nowMs = `CAST(round(unixepoch('subsec') * 1000) AS INTEGER)`;

/** The claim's time: the parameter ?n once a claim's first pass has set it, else now. */
export const claimNow = (n: number): string => `coalesce(?${n}, ${nowMs})`;

// The assignments of a fenced completion that every outcome shares, written once for
// attemptCompleteMany (queries.ts) and attemptCompleteUnsucceededMany (run-queries.ts), whose
// comments say why each is so: a cancel requested meanwhile wins, a retry clears the progress.
export const outcomeAssignments = `status = CASE WHEN t.cancel_requested_at IS NULL THEN o.status ELSE 'expired' END,
  completed_at = CASE WHEN o.status = 'pending' AND t.cancel_requested_at IS NULL THEN NULL
    ELSE ${nowMs} END,
  scheduled_at = CASE WHEN o.status = 'pending' AND t.cancel_requested_at IS NULL
    THEN ${nowMs} + o.delay_ms ELSE t.scheduled_at END,
  last_error = CASE WHEN t.cancel_requested_at IS NULL THEN coalesce(o.error, t.last_error)
    ELSE 'Cancelled' END,
  progress = CASE WHEN o.status = 'pending' AND t.cancel_requested_at IS NULL THEN NULL
    ELSE t.progress END,
  progress_message = CASE WHEN o.status = 'pending' AND t.cancel_requested_at IS NULL THEN NULL
    ELSE t.progress_message END,`;
