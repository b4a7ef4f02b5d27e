import type { AttemptClaimLimitedParams } from '../../seam/executor.js';
import type { SqlResult } from '../../seam/sql-connection.js';
import { convertingParsers, idOf } from '../attempt-rows.js';
import { limitedByPriority } from '../limited-walk.js';

type Row = Record<string, unknown>;
type Query = (
  name:
    | 'attemptClaimLimited'
    | 'attemptClaimLimitedByKey'
    | 'attemptLimitedRoom'
    | 'attemptNextDueQueuePriorities'
    | 'attemptRecordStarts',
  values: readonly unknown[],
) => Promise<SqlResult>;

/** The most priorities one look takes after the first (see limitedByPriority). */
const prioritiesPerLook = 32;

/**
 * The rows a limited claim leases, by priority (see limitedByPriority). Each pass is
 * one statement that counts and leases under the write lock, so the limits hold between passes
 * too; a rate-limited claim records each pass's starts before the next counts them, all in the
 * caller's transaction.
 */
export function claimLimited(query: Query, params: AttemptClaimLimitedParams): Promise<Row[]> {
  const { flow } = params;
  const { rateLimit } = flow;
  // The time of the claim's first pass that leased rows: the later ones lease from it too.
  let now: unknown = null;
  // One statement: the first look (a prefix of the due rows), or (prefix null) the look by key.
  const look = async (
    priorities: readonly number[],
    limit: number,
    prefix: number | null,
  ): Promise<readonly Row[]> => {
    const { rows } = await query(
      prefix === null ? 'attemptClaimLimitedByKey' : 'attemptClaimLimited',
      [
        params.lockedBy,
        limit,
        params.leaseMs,
        params.horizon === null ? null : params.horizon.getTime(),
        flow.queue,
        flow.concurrency,
        flow.keyConcurrency,
        flow.fair ? 1 : 0,
        rateLimit?.limit ?? null,
        rateLimit?.periodMs ?? null,
        rateLimit === null ? null : rateLimit.perKey ? 1 : 0,
        prefix ?? -1,
        JSON.stringify(priorities),
        now,
      ],
    );
    const first = rows[0];
    if (first === undefined) return rows;
    now ??= first['db_now'];
    if (rateLimit !== null) {
      const at = convertingParsers.date(first['db_now']).getTime();
      await query('attemptRecordStarts', [JSON.stringify(rows.map(idOf)), at]);
    }
    return rows;
  };
  return limitedByPriority<Row>(
    {
      // Past the first look, and for fairness, the look by key (over every priority given).
      pass: (priorities, limit, prefix) => look(priorities, limit, prefix),
      priorityOf: (row) => Number(row['priority']),
      // Not known here: the first look does not count what it read.
      sawEvery: () => false,
      hasRoom: async () => {
        const left = await query('attemptLimitedRoom', [
          flow.queue,
          flow.concurrency,
          rateLimit?.limit ?? null,
          rateLimit?.periodMs ?? null,
          rateLimit?.perKey === true ? 1 : 0,
        ]);
        return Number(left.rows[0]?.['room']) > 0;
      },
      dueAbove: async (after) =>
        (
          await query('attemptNextDueQueuePriorities', [
            after ?? Number.MIN_SAFE_INTEGER,
            params.horizon === null ? null : params.horizon.getTime(),
            prioritiesPerLook,
            flow.queue,
          ])
        ).rows.map((row) => Number(row['priority'])),
    },
    flow.fair,
    params.limit,
  );
}
