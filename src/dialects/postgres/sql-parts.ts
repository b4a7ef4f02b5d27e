// The assignments of a fenced completion that every outcome shares, written once for
// attemptCompleteMany (queries.ts) and attemptCompleteUnsucceededMany (run-queries.ts), whose
// comments say why each is so: a cancel requested meanwhile wins, a retry clears the progress.
// The statement's time, not now(): a success written inside the handler's ctx.transaction would
// otherwise be stamped when that transaction began.
export const outcomeAssignments = `status = CASE WHEN t.cancel_requested_at IS NULL THEN o.status ELSE 'expired' END,
  completed_at = CASE WHEN o.status = 'pending' AND t.cancel_requested_at IS NULL THEN NULL
    ELSE statement_timestamp() END,
  scheduled_at = CASE WHEN o.status = 'pending' AND t.cancel_requested_at IS NULL
    THEN statement_timestamp() + o.delay_ms * interval '1 millisecond' ELSE t.scheduled_at END,
  last_error = CASE WHEN t.cancel_requested_at IS NULL THEN coalesce(o.error, t.last_error)
    ELSE 'Cancelled' END,
  progress = CASE WHEN o.status = 'pending' AND t.cancel_requested_at IS NULL THEN NULL
    ELSE t.progress END,
  progress_message = CASE WHEN o.status = 'pending' AND t.cancel_requested_at IS NULL THEN NULL
    ELSE t.progress_message END,`;
