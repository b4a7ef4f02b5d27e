import type { AttemptRecord } from '../../core/attempt.js';
import type { ClaimedValues } from '../claimed-values.js';

/** What a claim sets, the same for all its rows. */
export type Lease = Pick<AttemptRecord, 'lockedBy' | 'lockedUntil' | 'updatedAt'>;

/** A row the claim returned (see claimedColumns) and what the claim set, for all its rows. */
export function claimedRecord(
  row: Record<string, unknown>,
  shared: ClaimedValues,
  lease: Lease,
): AttemptRecord {
  return {
    id: row['id'] as string,
    target: shared.name(row['target'] as string),
    methodName: shared.name(row['method_name'] as string),
    methodArgs: row['method_args'] as string | null,
    encryptor: row['encryptor'] as string | null,
    status: 'running',
    numAttempts: row['num_attempts'] as number,
    maxAttempts: row['max_attempts'] as number,
    queue: shared.name(row['queue'] as string),
    priority: row['priority'] as number,
    idempotenceToken: row['idempotence_token'] as string | null,
    scheduledAt: shared.date(row['scheduled_at']),
    completedAt: null,
    lockedBy: lease.lockedBy,
    lockedUntil: lease.lockedUntil,
    lastError: row['last_error'] as string | null,
    // Every way back to pending clears progress, so a claimed row has none.
    progress: null,
    progressMessage: null,
    createdAt: shared.date(row['created_at']),
    updatedAt: lease.updatedAt,
    traceContext: (row['trace_context'] ?? null) as string | null,
  };
}
