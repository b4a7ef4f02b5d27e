// The lists MySQL statements read with JSON_TABLE, and the leases they name.

import type { LeaseRef } from '../../seam/executor.js';

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
