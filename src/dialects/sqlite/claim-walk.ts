import type { AttemptClaimParams } from '../../seam/executor.js';
import type { SqlResult } from '../../seam/sql-connection.js';
import type { PriorityWalk } from '../priority-walk.js';

type Row = Record<string, unknown>;
export type ClaimQuery = (
  name:
    | 'attemptClaim'
    | 'attemptClaimExcept'
    | 'attemptClaimQueue'
    | QueuesStatement
    | 'attemptNextDuePriorities'
    | 'attemptPendingQueues',
  values: readonly unknown[],
) => Promise<SqlResult>;

/** The claims of 2 to 32 queues, each with room for a power of two of them. */
type QueuesStatement = `attemptClaimQueues${2 | 4 | 8 | 16 | 32}`;

type ClaimStatement = 'attemptClaim' | 'attemptClaimExcept' | 'attemptClaimQueue' | QueuesStatement;

/** The most queues attemptClaimQueues32 (queue-claim-queries.ts) takes: one arm of it each. */
export const queuesPerClaim = 32;

/**
 * The queues a claim takes from their own stretches of the queue-leading index
 * (attemptClaimQueues2 to 32): the worker's, or those with pending rows but the excepted ones
 * (an empty list: nothing to claim). Undefined: the claim walks the due index of every queue, as
 * it does for a worker of every queue, and for more than queuesPerClaim queues (reading each
 * one's first rows would cost more than stepping over the others').
 */
export async function queuesToClaim(
  query: ClaimQuery,
  params: Pick<AttemptClaimParams, 'queues' | 'exceptQueues'>,
): Promise<readonly string[] | undefined> {
  if (params.queues !== null) {
    const queues = [...new Set(params.queues)];
    return queues.length <= queuesPerClaim ? queues : undefined;
  }
  const except = params.exceptQueues ?? [];
  if (except.length === 0) return undefined;
  const most = queuesPerClaim + except.length;
  const { rows } = await query('attemptPendingQueues', [most]);
  if (rows.length > most) return undefined;
  const left = new Set(except);
  return rows.map((row) => String(row['queue'])).filter((queue) => !left.has(queue));
}

/**
 * The statement a claim walks with, and its queue parameter (?5), for the queues queuesToClaim
 * gave (undefined: the due index of every queue, filtered by `params`).
 */
export function claimStatementOf(
  params: Pick<AttemptClaimParams, 'queues' | 'exceptQueues'>,
  queues: readonly string[] | undefined,
): [ClaimStatement, string | null] {
  if (queues?.length === 1) return ['attemptClaimQueue', queues[0]!];
  if (queues !== undefined) return [queuesStatement(queues.length), JSON.stringify(queues)];
  if (params.queues === null && (params.exceptQueues?.length ?? 0) > 0) {
    return ['attemptClaimExcept', JSON.stringify(params.exceptQueues)];
  }
  return ['attemptClaim', params.queues === null ? null : JSON.stringify(params.queues)];
}

/** The most priorities one claim statement takes after the first (see dueByPriority). */
const prioritiesPerClaim = 32;

/**
 * A claim by priority (see dueByPriority), each statement choosing and leasing its rows under the
 * write lock. `params`: ?1, ?3, ?4 and ?5 of `statement` (worker, lease, horizon, queues); the
 * limit (?2) and the priorities (?6) come per statement, and ?7, the claim's time.
 */
export function claimWalk(
  query: ClaimQuery,
  statement: ClaimStatement,
  params: readonly [unknown, unknown, unknown, unknown],
): PriorityWalk<Row> {
  const [lockedBy, leaseMs, horizon, queues] = params;
  // The time of the claim's first statement that leased rows: the later ones lease from it too.
  let now: unknown = null;
  const claim = async (priorities: string | null, limit: number): Promise<readonly Row[]> => {
    const { rows } = await query(statement, [
      lockedBy,
      limit,
      leaseMs,
      horizon,
      queues,
      priorities,
      now,
    ]);
    now ??= rows[0]?.['db_now'] ?? null;
    return rows;
  };
  return {
    lowest: (limit) => claim(null, limit),
    of: (priorities, limit) => claim(JSON.stringify(priorities), limit),
    dueAbove: async (after) =>
      (await query('attemptNextDuePriorities', [after, horizon, prioritiesPerClaim])).rows.map(
        (row) => Number(row['priority']),
      ),
    priorityOf: (row) => Number(row['priority']),
  };
}

/** The statement of `count` queues (2 to queuesPerClaim): the fewest arms that fit them. */
function queuesStatement(count: number): QueuesStatement {
  for (const arms of [2, 4, 8, 16] as const) {
    if (count <= arms) return `attemptClaimQueues${arms}`;
  }
  return 'attemptClaimQueues32';
}
