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
 * queues); the limit (?2) and the priority (?6) come per statement, and ?7, the claim's time.
 */
export function claimWalk(
  query: Query,
  statement: 'attemptClaim' | 'attemptClaimExcept',
  params: readonly [unknown, unknown, unknown, unknown],
): PriorityWalk<Row> {
  const [lockedBy, leaseMs, horizon, queues] = params;
  // The time of the claim's first statement that leased rows: the later ones lease from it too.
  let now: unknown = null;
  const claim = async (priority: number | null, limit: number): Promise<readonly Row[]> => {
    const { rows } = await query(statement, [
      lockedBy,
      limit,
      leaseMs,
      horizon,
      queues,
      priority,
      now,
    ]);
    now ??= rows[0]?.['db_now'] ?? null;
    return rows;
  };
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
