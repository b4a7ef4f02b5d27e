import type { AttemptCompletion, LeaseRef } from '../../seam/executor.js';

// Lists travel to MySQL as one JSON parameter, read with JSON_TABLE (see queries.ts).

/** JSON for JSON_TABLE: a null field is left out, which reads as SQL NULL on every version. */
export function withoutNulls(object: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== null));
}

export function idsJson(records: readonly { id: string }[]): string {
  return JSON.stringify(records.map((record) => ({ id: record.id })));
}

export function leasesJson(leases: readonly LeaseRef[]): string {
  return JSON.stringify(leases.map((lease) => ({ id: lease.id, n: lease.numAttempts })));
}

/** One entry per (id, attempt count): a batch naming a lease twice writes it once. */
export function uniqueLeases<T extends LeaseRef>(leases: readonly T[]): T[] {
  const seen = new Set<string>();
  return leases.filter((lease) => {
    const key = `${lease.id}:${lease.numAttempts}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** A completion as attemptCompleteMany reads it. */
export function completionJson(c: AttemptCompletion): Record<string, unknown> {
  return withoutNulls({
    id: c.id,
    n: c.numAttempts,
    status: c.status,
    delayMs: Math.max(0, Math.round(c.delayMs)),
    error: c.error,
  });
}

/** A completion other than succeeded, with its run's times (attemptCompleteUnsucceededMany). */
export function unsucceededJson(c: AttemptCompletion): Record<string, unknown> {
  return withoutNulls({
    ...completionJson(c),
    startedAt: c.startedAtMs === undefined ? null : Math.round(c.startedAtMs),
    endedAt: c.endedAtMs === undefined ? null : Math.round(c.endedAtMs),
  });
}
