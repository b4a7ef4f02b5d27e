import { probedPriority, type PriorityWalk } from '../priority-walk.js';
import type { FlowQuery } from './flow-room.js';
import { prioritiesPerClaim } from './sql-parts.js';

type Row = Record<string, unknown>;

/** Below every priority (a SMALLINT): where the walk of a claim starts looking. */
const belowEveryPriority = -32769;

/** The lowest priority with pending rows in the table, or null: none. */
export async function lowestPending(query: FlowQuery): Promise<number | null> {
  const [probe] = (await query('attemptLowestPendingPriority', [])).rows;
  return probedPriority(probe?.['priority']);
}

/**
 * A claim's probe for the lowest priorities above `after` (null: above the lowest pending one,
 * which the claim's first statement read; `any`: below every priority) with a row due by now and
 * by `horizon` (SQL time, or null), at most `most`: see attemptNextDuePriority.
 */
export function duePrioritiesProbe(
  query: FlowQuery,
  horizon: unknown,
  { any = false, most = prioritiesPerClaim } = {},
): (after: number | null) => Promise<readonly number[]> {
  return async (after) => {
    const bound = after ?? (any ? belowEveryPriority : null);
    const { rows } = await query('attemptNextDuePriority', [bound, horizon, most]);
    return rows.map((row) => Number(row['priority']));
  };
}

/** The walk's list of priorities as attemptClaimSelect's parameters (see priorityList). */
export function priorityParams(priorities: readonly number[]): (number | null)[] {
  return Array.from({ length: prioritiesPerClaim }, (_, i) => priorities[i] ?? null);
}

/**
 * The first half of a claim, in its transaction, one priority at a time (see dueByPriority): each
 * statement locks its rows FOR UPDATE SKIP LOCKED. `filters`: the horizon and queue parameters.
 */
export function claimWalk(
  query: FlowQuery,
  except: boolean,
  filters: readonly unknown[],
): PriorityWalk<Row> {
  const rows = async (...args: Parameters<FlowQuery>): Promise<readonly Row[]> =>
    (await query(...args)).rows;
  return {
    lowest: (limit) =>
      rows(except ? 'attemptClaimSelectExceptFirst' : 'attemptClaimSelectFirst', [
        ...filters,
        limit,
      ]),
    of: (priorities, limit) =>
      rows(except ? 'attemptClaimSelectExcept' : 'attemptClaimSelect', [
        ...priorityParams(priorities),
        ...filters,
        limit,
      ]),
    dueAbove: duePrioritiesProbe(query, filters[0]),
    priorityOf: (row) => Number(row['priority']),
  };
}
