import type { StatementName } from './bound-statements.js';
import type { FlowQuery } from './flow-room.js';

/** Below every SMALLINT priority: where the first probe starts. */
const belowEveryPriority = -32769;

/**
 * The due rows a claim locks, read one priority at a time. The claim index is ordered by (status,
 * priority, scheduled_at, id) and holds the rows scheduled for later too; one walk over every
 * priority could not stop at a priority's first future row, so a claim that found fewer due rows
 * than its limit read every pending row (72 ms for an empty claim beside 500,000 attempts due
 * tomorrow). Each priority with pending rows is found by a probe the server answers from the
 * index alone, and walked from its first due row to its first later one, until `limit` rows are
 * locked. `statement` takes the priority first, then `filters`, then the limit.
 */
export async function dueByPriority(
  query: FlowQuery,
  statement: Extract<StatementName, 'attemptClaimSelect' | 'attemptClaimSelectExcept'>,
  filters: readonly unknown[],
  limit: number,
): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  let after = belowEveryPriority;
  for (;;) {
    const probe = await query('attemptNextPriority', [after]);
    const priority = probe.rows[0]?.['priority'];
    if (priority === null || priority === undefined) return rows;
    const selected = await query(statement, [priority, ...filters, limit - rows.length]);
    for (const row of selected.rows) rows.push(row);
    if (rows.length >= limit) return rows;
    after = Number(priority);
  }
}
