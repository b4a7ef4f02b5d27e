import type { AttemptClaimParams } from '../../seam/executor.js';
import type { PriorityWalk } from '../priority-walk.js';
import { claimWalk, duePrioritiesProbe, lowestPending, priorityParams } from './claim-walk.js';
import type { FlowQuery } from './flow-room.js';

type Row = Record<string, unknown>;

/** The most queues attemptQueueShares (queue-claim-queries.ts) takes: one arm of it each. */
export const queuesPerShare = 32;

/**
 * The walk of a claim (see dueByPriority), or null: nothing of the queues it takes is pending.
 * A claim of every queue walks the due index, whose order is the claim's. A claim of some queues
 * (`queues`, or every queue but `exceptQueues`) takes each queue's rows from its own stretch of
 * the queue-and-key index (queue-claim-queries.ts), so another queue's backlog costs it nothing;
 * it walks the due index too, filtered, when a queue it takes has pending rows with a key (they
 * lie in their keys' stretches) or more than queuesPerShare queues have pending rows.
 * `horizon`: a runDue pass's, as SQL time.
 */
export async function claimWalkOf(
  query: FlowQuery,
  params: Pick<AttemptClaimParams, 'queues' | 'exceptQueues'>,
  horizon: string | null,
): Promise<PriorityWalk<Row> | null> {
  const except = params.queues === null ? (params.exceptQueues ?? []) : [];
  if (params.queues === null && except.length === 0) {
    return claimWalk(query, false, [horizon, horizon, null, null]);
  }
  const named = params.queues === null ? null : new Set(params.queues);
  const left = new Set(except);
  const most = queuesPerShare + except.length;
  const { rows } = await query('attemptPendingQueues', [most + 1]);
  const taken = rows.filter((row) =>
    named === null ? !left.has(String(row['queue'])) : named.has(String(row['queue'])),
  );
  if (taken.length === 0) return null;
  if (rows.length > most || taken.some((row) => row['last_key'] !== null)) {
    const filter = JSON.stringify(named === null ? except : params.queues);
    return claimWalk(query, named === null, [horizon, horizon, filter, filter]);
  }
  return queueWalk(
    query,
    taken.map((row) => String(row['queue'])),
    horizon,
  );
}

/** The walk over `queues` (at most queuesPerShare), each queue's rows from its own stretch. */
function queueWalk(
  query: FlowQuery,
  queues: readonly string[],
  horizon: string | null,
): PriorityWalk<Row> {
  // Each queue's share of the first `limit` due rows of `priorities` across the queues, then
  // that share of each, a statement per queue.
  const of = async (priorities: readonly number[], limit: number): Promise<readonly Row[]> => {
    const listed = priorityParams(priorities);
    const shares: (readonly [string, number])[] =
      queues.length === 1
        ? [[queues[0]!, limit]]
        : (
            await query('attemptQueueShares', [
              ...Array.from({ length: queuesPerShare }, (_, i) => [
                queues[i] ?? null,
                ...listed,
                horizon,
                horizon,
                limit,
              ]).flat(),
              limit,
            ])
          ).rows.map((row) => [String(row['queue']), Number(row['n'])] as const);
    const rows: Row[] = [];
    for (const [queue, n] of shares) {
      const claimed = await query('attemptClaimSelectQueue', [
        queue,
        ...listed,
        horizon,
        horizon,
        n,
      ]);
      rows.push(...claimed.rows);
    }
    return rows;
  };
  return {
    lowest: async (limit) => {
      const priority = await lowestPending(query);
      return priority === null ? [] : of([priority], limit);
    },
    of,
    dueAbove: duePrioritiesProbe(query, horizon),
    priorityOf: (row) => Number(row['priority']),
  };
}
