import type { AttemptInsertParams } from '../seam/executor.js';

/**
 * An enqueue's rows as one JSON array, each element keyed by column name, as the PostgreSQL and
 * SQLite insert statements read it. Null values are left out (both read a missing key as NULL):
 * a batch of plain enqueues then sends half the bytes, which the client writes and the server
 * parses (226 KB against 117 KB for 1,000 small tasks; stringifying them takes 0.3 ms instead of
 * 0.5). JSON.stringify leaves out the properties whose value is undefined.
 */
export function insertRowsJson(rows: readonly AttemptInsertParams[]): string {
  return JSON.stringify(
    rows.map((r) => ({
      target: r.target,
      method_name: r.methodName,
      method_args: r.methodArgs ?? undefined,
      encryptor: r.encryptor ?? undefined,
      max_attempts: r.maxAttempts,
      queue: r.queue,
      priority: r.priority,
      idempotence_token: r.idempotenceToken ?? undefined,
      scheduled_at_ms: r.scheduledAt?.getTime(),
      concurrency_key: r.concurrencyKey ?? undefined,
      trace_context: r.traceContext ?? undefined,
    })),
  );
}
