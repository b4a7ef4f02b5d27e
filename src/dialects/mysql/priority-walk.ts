import type { StatementName } from './bound-statements.js';
import type { FlowQuery } from './flow-room.js';

/** The claim's statements: the lowest pending priority's, then a given priority's. */
export interface ClaimSelects {
  readonly first: Extract<
    StatementName,
    'attemptClaimSelectFirst' | 'attemptClaimSelectExceptFirst'
  >;
  readonly next: Extract<StatementName, 'attemptClaimSelect' | 'attemptClaimSelectExcept'>;
}

/**
 * The due rows a claim locks, read one priority at a time. The claim index is ordered by (status,
 * priority, scheduled_at, id) and holds the rows scheduled for later too; one walk over every
 * priority could not stop at a priority's first future row, so a claim that found fewer due rows
 * than its limit read every pending row (72 ms for an empty claim beside 500,000 attempts due
 * tomorrow). Each priority is walked from its first due row to its first later one, in order,
 * until `limit` rows are locked: first the lowest pending priority (a busy queue's claim seldom
 * needs more, and costs one statement as before), then each next one, found by a probe the server
 * answers off the index's edge. `filters` follow the priority in each statement, then the limit.
 */
export async function dueByPriority(
  query: FlowQuery,
  selects: ClaimSelects,
  filters: readonly unknown[],
  limit: number,
): Promise<Record<string, unknown>[]> {
  const rows = [...(await query(selects.first, [...filters, limit])).rows];
  if (rows.length >= limit) return rows;
  let priority = rows[0]?.['priority'] ?? (await nextPriority(query, belowEveryPriority));
  for (;;) {
    if (priority === null || priority === undefined) return rows;
    priority = await nextPriority(query, Number(priority));
    if (priority === null || priority === undefined) return rows;
    const selected = await query(selects.next, [priority, ...filters, limit - rows.length]);
    for (const row of selected.rows) rows.push(row);
    if (rows.length >= limit) return rows;
  }
}

/** Below every SMALLINT priority. */
const belowEveryPriority = -32769;

/** The lowest priority above `after` that has pending rows, or null. */
async function nextPriority(query: FlowQuery, after: number): Promise<unknown> {
  return (await query('attemptNextPriority', [after])).rows[0]?.['priority'] ?? null;
}
