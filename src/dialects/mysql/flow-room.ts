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

/** Every row, as a LIMIT (MySQL's has no "all"). */
const everyRow = 2_147_483_647;

/**
 * A limited claim's candidates: first among the queue's first room * 4 + 256 due rows only. A
 * row's rank within its key is the same in any due-order prefix as in the whole backlog, so when
 * the prefix yields the room the result is the one over the whole backlog, at a cost that does
 * not grow with the backlog. Only when it yields less (a short backlog, or a prefix crowded with
 * busy keys' rows), and always for fairness (round-robin needs each key's first rows, wherever
 * they are), every due row is read: a cost in proportion to the backlog.
 */
export async function limitedCandidates(
  query: FlowQuery,
  flow: QueueFlow,
  horizon: string | null,
  room: number,
): Promise<SqlResult> {
  if (!flow.fair) {
    const first = await query(
      'attemptClaimLimitedCandidates',
      candidateParams(flow, horizon, room, room * 4 + 256),
    );
    if (first.rows.length >= room) return first;
  }
  return query('attemptClaimLimitedCandidates', candidateParams(flow, horizon, room, everyRow));
}

/** attemptClaimLimitedCandidates' parameters. */
function candidateParams(
  flow: QueueFlow,
  horizon: string | null,
  room: number,
  prefix: number,
): unknown[] {
  const perKey = flow.rateLimit?.perKey === true;
  return [
    horizon,
    horizon,
    flow.queue,
    prefix,
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
