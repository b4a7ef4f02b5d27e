import type { QueueFlow } from '../../core/flow.js';
import type { AttemptRecord } from '../../core/attempt.js';
import type { SqlResult } from '../../seam/sql-connection.js';
import type { StatementName } from './bound-statements.js';
import { idsJson } from './json-params.js';
import { sqlTime } from './sql-time.js';

/** Runs one of the dialect's statements in the limited claim's transaction. */
export type FlowQuery = (name: StatementName, params: readonly unknown[]) => Promise<SqlResult>;

/**
 * How many a limited claim may take, after flowLock: `limit`, less what the queue's concurrency
 * and (across the queue) its rate limit leave. A rate-limited claim prunes its queue's old starts
 * here first.
 */
export async function limitedRoom(
  query: FlowQuery,
  flow: QueueFlow,
  limit: number,
): Promise<number> {
  let room = limit;
  if (flow.concurrency !== null) {
    const counted = await query('attemptCountRunning', [flow.queue]);
    room = Math.min(room, flow.concurrency - Number(counted.rows[0]?.['running'] ?? 0));
  }
  const rate = flow.rateLimit;
  if (rate !== null && room > 0) {
    await query('flowPruneStarts', [flow.queue, rate.periodMs * 1000]);
    if (!rate.perKey) {
      const counted = await query('flowCountStarts', [flow.queue, rate.periodMs * 1000]);
      room = Math.min(room, rate.limit - Number(counted.rows[0]?.['started'] ?? 0));
    }
  }
  return room;
}

/** attemptClaimLimitedCandidates' parameters. */
export function candidateParams(flow: QueueFlow, horizon: string | null, room: number): unknown[] {
  const perKey = flow.rateLimit?.perKey === true;
  return [
    horizon,
    horizon,
    flow.queue,
    flow.queue,
    perKey ? 1 : 0,
    flow.queue,
    (flow.rateLimit?.periodMs ?? 0) * 1000,
    flow.keyConcurrency,
    perKey ? 1 : 0,
    flow.rateLimit?.limit ?? 0,
    flow.fair ? 1 : 0,
    room,
  ];
}

/** Records the starts of a rate-limited claim, in its transaction. */
export async function recordStarts(
  query: FlowQuery,
  flow: QueueFlow,
  claimed: { readonly records: readonly AttemptRecord[]; readonly now: Date },
): Promise<void> {
  if (flow.rateLimit === null || claimed.records.length === 0) return;
  await query('flowRecordStarts', [sqlTime(claimed.now), idsJson(claimed.records)]);
}
