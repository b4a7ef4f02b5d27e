import { probedPriority, type PriorityWalk } from '../priority-walk.js';
import type { FlowQuery } from './flow-room.js';

type Row = Record<string, unknown>;

/** Below every priority (a SMALLINT): where the walk of a claim starts looking. */
export const belowEveryPriority = -32769;

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
    of: (priority, limit) =>
      rows(except ? 'attemptClaimSelectExcept' : 'attemptClaimSelect', [
        priority,
        ...filters,
        limit,
      ]),
    above: async (after) => {
      const [probe] = await rows('attemptNextPriority', [after ?? belowEveryPriority]);
      return probedPriority(probe?.['priority']);
    },
    priorityOf: (row) => Number(row['priority']),
  };
}
