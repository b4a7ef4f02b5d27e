import type { QueueFlow } from '../../core/flow.js';
import type { AttemptRecord } from '../../core/attempt.js';
import type { AttemptClaimResult } from '../../seam/executor.js';
import type { SqlResult } from '../../seam/sql-connection.js';
import { idOf } from '../attempt-rows.js';
import { limitedByPriority } from '../limited-walk.js';
import { probedPriority } from '../priority-walk.js';
import type { StatementName } from './bound-statements.js';
import { idsJson } from './json-params.js';
import { limitedPrioritySlots } from './sql-parts.js';
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

/** Below every priority (a SMALLINT): where the walk of a claim starts looking. */
const belowEveryPriority = -32769;

/**
 * A limited claim after flowLock and limitedRoom: up to `room` of the queue's due rows, one
 * priority at a time (see limitedByPriority), each pass's candidates locked with SKIP LOCKED
 * (which leaves out a row an enqueue or a release still holds), leased by `lease` and recorded as
 * starts, so that the next pass counts them. The priorities are the table's pending ones (a
 * probe of the claim index's edge; one of the queue's own would step over every other queue's
 * rows): a priority this queue has nothing due at costs a pass that finds nothing.
 */
export async function claimLimitedByPriority(
  query: FlowQuery,
  flow: QueueFlow,
  horizon: string | null,
  room: number,
  lease: (rows: readonly Record<string, unknown>[]) => Promise<AttemptClaimResult>,
): Promise<AttemptClaimResult> {
  let now = new Date();
  const records = await limitedByPriority<AttemptRecord>(
    {
      pass: async (priorities, limit, prefix) => {
        const candidates = await query(
          priorities.length > limitedPrioritySlots
            ? 'attemptClaimLimitedCandidatesAnyPriority'
            : 'attemptClaimLimitedCandidates',
          candidateParams(flow, horizon, limit, prefix ?? everyRow, priorities),
        );
        if (candidates.rows.length === 0) return [];
        const ids = candidates.rows.map((row) => ({ id: idOf(row) }));
        const claimed = await lease((await query('attemptClaimSelectIds', [idsJson(ids)])).rows);
        await recordStarts(query, flow, claimed);
        now = claimed.now;
        return claimed.records;
      },
      // `room` was counted under the queue's lock, and each pass asks for what is left of it.
      hasRoom: () => Promise.resolve(true),
      above: async (after) => {
        const [probe] = (await query('attemptNextPriority', [after ?? belowEveryPriority])).rows;
        return probedPriority(probe?.['priority']);
      },
    },
    flow.fair,
    room,
  );
  return { records, now };
}

/** The candidates statements' parameters. */
function candidateParams(
  flow: QueueFlow,
  horizon: string | null,
  room: number,
  prefix: number,
  priorities: readonly number[],
): unknown[] {
  const perKey = flow.rateLimit?.perKey === true;
  // The list repeats its last priority to fill the slots; more than fit take no list.
  const slots =
    priorities.length > limitedPrioritySlots
      ? []
      : Array.from(
          { length: limitedPrioritySlots },
          (_, i) => priorities[Math.min(i, priorities.length - 1)],
        );
  return [
    horizon,
    horizon,
    flow.queue,
    ...slots,
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
