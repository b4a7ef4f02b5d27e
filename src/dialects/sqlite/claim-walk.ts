import type { SqlResult } from '../../seam/sql-connection.js';
import { probedPriority, type PriorityWalk } from '../priority-walk.js';

type Row = Record<string, unknown>;
type Query = (
  name: 'attemptClaim' | 'attemptClaimExcept' | 'attemptNextPriority',
  values: readonly unknown[],
) => Promise<SqlResult>;

/**
 * A claim one priority at a time (see dueByPriority), each statement choosing and leasing its rows
 * under the write lock. `params`: ?1, ?3, ?4 and ?5 of `statement` (worker, lease, horizon,
 * queues); the limit (?2) and the priority (?6) come per statement.
 */
export function claimWalk(
  query: Query,
  statement: 'attemptClaim' | 'attemptClaimExcept',
  params: readonly [unknown, unknown, unknown, unknown],
): PriorityWalk<Row> {
  const [lockedBy, leaseMs, horizon, queues] = params;
  const claim = async (priority: number | null, limit: number): Promise<readonly Row[]> =>
    (await query(statement, [lockedBy, limit, leaseMs, horizon, queues, priority])).rows;
  return {
    lowest: (limit) => claim(null, limit),
    of: claim,
    above: async (after) => {
      const [probe] = (await query('attemptNextPriority', [after ?? Number.MIN_SAFE_INTEGER])).rows;
      return probedPriority(probe?.['priority']);
    },
    priorityOf: (row) => Number(row['priority']),
  };
}
