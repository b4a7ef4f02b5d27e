import type { QueueFlow } from '../../core/flow.js';
import type { AttemptRecord } from '../../core/attempt.js';
import type { AttemptClaimResult } from '../../seam/executor.js';
import type { SqlResult } from '../../seam/sql-connection.js';
import { idOf } from '../attempt-rows.js';
import { limitedByPriority } from '../limited-walk.js';
import type { StatementName } from './bound-statements.js';
import { duePrioritiesProbe, lowestPending, priorityParams } from './claim-walk.js';
import { idsJson } from './json-params.js';

/** Runs one of the dialect's statements in the limited claim's transaction. */
export type FlowQuery = (name: StatementName, params: readonly unknown[]) => Promise<SqlResult>;

/** What a limited claim may take, and where it looks (see claimLimitedByPriority). */
export interface LimitedRoom {
  /** `limit`, less what the queue's concurrency and (across the queue) its rate limit leave. */
  readonly room: number;
  /** Whether a pending row of the queue has a concurrency key. */
  readonly keyed: boolean;
}

/**
 * A limited claim's room, after flowLock. A rate-limited claim prunes its queue's old starts
 * here first.
 */
export async function limitedRoom(
  query: FlowQuery,
  flow: QueueFlow,
  limit: number,
): Promise<LimitedRoom> {
  let room = limit;
  let lastKey: unknown;
  if (flow.concurrency !== null) {
    const [counted] = (await query('attemptCountRunning', [flow.queue, flow.queue])).rows;
    room = Math.min(room, flow.concurrency - Number(counted?.['running'] ?? 0));
    lastKey = counted?.['last_key'];
  }
  const rate = flow.rateLimit;
  if (rate !== null && room > 0) {
    await query('flowPruneStarts', [flow.queue, rate.periodMs * 1000]);
    if (!rate.perKey) {
      const counted = await query('flowCountStarts', [flow.queue, rate.periodMs * 1000]);
      room = Math.min(room, rate.limit - Number(counted.rows[0]?.['started'] ?? 0));
    }
  }
  if (room > 0 && lastKey === undefined) {
    lastKey = (await query('attemptQueueLastKey', [flow.queue])).rows[0]?.['last_key'];
  }
  return { room, keyed: lastKey !== null && lastKey !== undefined };
}

/**
 * The largest first look that counts the due rows it read (see attemptClaimLimitedFirstLook):
 * the count makes the claim of a queue with little due skip a second read, and costs a copy of
 * the rows read, which a first look of thousands, seldom short, would pay on every claim.
 */
const countedLook = 1000;

/** A first look's statements, counted (`true`) or not, of some priorities or of the lowest. */
type Looks = Record<'true' | 'false', { of: StatementName; lowest: StatementName }>;
const keyedLooks: Looks = {
  true: { of: 'attemptClaimLimitedFirstLook', lowest: 'attemptClaimLimitedFirstLookLowest' },
  false: { of: 'attemptClaimLimitedCandidates', lowest: 'attemptClaimLimitedCandidatesLowest' },
};
const unkeyedLooks: Looks = {
  true: { of: 'attemptClaimUnkeyedFirstLook', lowest: 'attemptClaimUnkeyedFirstLookLowest' },
  false: { of: 'attemptClaimUnkeyedCandidates', lowest: 'attemptClaimUnkeyedCandidatesLowest' },
};

/**
 * A limited claim after flowLock and limitedRoom: up to `room` of the queue's due rows (those of
 * a queue whose pending rows have no key from its own stretch of the queue-and-key index: see
 * limitedCandidates), by priority (see limitedByPriority), each pass's candidates
 * locked with SKIP LOCKED (which leaves out a row an enqueue or a release still holds), leased by
 * `lease` and recorded as starts, so that the next pass counts them. The priorities are the
 * table's with a due row (a loose scan of the claim index; one of the queue's own would step
 * over every other queue's rows): a priority this queue has nothing due at costs a pass that
 * finds nothing. `exhausted`
 * when no pass read a due row of the queue: the counted looks say so, and where only uncounted
 * ones (a first look of a claim of more than `countedLook / 4` rows, a fair one, a look by key)
 * came back empty, one probe more asks.
 */
export async function claimLimitedByPriority(
  query: FlowQuery,
  flow: QueueFlow,
  horizon: string | null,
  { room, keyed }: LimitedRoom,
  lease: (rows: readonly Record<string, unknown>[], at?: Date) => Promise<AttemptClaimResult>,
): Promise<AttemptClaimResult> {
  // The first pass that leased rows: every later pass leases from its time too.
  let now: Date | undefined;
  let sawEvery = false;
  // Whether a pass read a due row of the queue (a look that counts none says so); `unsure`: an
  // uncounted one returned no candidate, which an idle queue and one held by busy keys both do.
  let sawDue = false;
  let unsure = false;
  const dueAbove = duePrioritiesProbe(query, horizon, { any: true });
  const looks = keyed ? keyedLooks : unkeyedLooks;
  const claim = async (
    statement: StatementName,
    params: readonly unknown[],
    limit: number,
    prefix: number | null,
    counted: boolean,
  ): Promise<readonly AttemptRecord[]> => {
    const { rows } = await query(statement, params);
    // Only a counted look knows; other passes read on when they fall short.
    const seen = rows[0]?.['seen'];
    sawEvery = counted && prefix !== null && Number(seen ?? 0) < prefix;
    if (counted) sawDue ||= Number(seen ?? 0) > 0;
    else if (rows.length > 0) sawDue = true;
    else unsure = true;
    // Not the first look's row of no attempt, nor one candidate past the room.
    const ids = rows
      .filter((row) => row['id'] !== null)
      .slice(0, limit)
      .map((row) => ({ id: idOf(row) }));
    if (ids.length === 0) return [];
    const locked = (await query('attemptClaimSelectIds', [idsJson(ids)])).rows;
    const claimed = await lease(locked, now);
    if (claimed.records.length === 0) return [];
    await recordStarts(query, flow, claimed.records);
    now ??= claimed.now;
    return claimed.records;
  };
  // The look by key reads one priority: each in turn, while there is room.
  const lookByKey = async (
    priorities: readonly number[],
    limit: number,
  ): Promise<readonly AttemptRecord[]> => {
    const taken: AttemptRecord[] = [];
    for (const priority of priorities) {
      const left = limit - taken.length;
      if (left <= 0) break;
      const params = keyLookParams(flow, horizon, left, [priority]);
      taken.push(...(await claim('attemptClaimLimitedByKey', params, left, null, false)));
    }
    return taken;
  };
  const records = await limitedByPriority<AttemptRecord>(
    {
      pass: (priorities, limit, prefix, afterFirst) => {
        if (afterFirst) return lookByKey(priorities, limit);
        if (prefix === null) {
          return claim(
            'attemptClaimFairByKey',
            keyLookParams(flow, horizon, limit, priorities),
            limit,
            null,
            false,
          );
        }
        const counted = prefix <= countedLook;
        return claim(
          looks[`${counted}`].of,
          candidateParams(flow, horizon, limit, prefix, priorities, counted),
          limit,
          prefix,
          counted,
        );
      },
      lowest: {
        pass: (limit, prefix) => {
          const counted = prefix <= countedLook;
          return claim(
            looks[`${counted}`].lowest,
            candidateParams(flow, horizon, limit, prefix, null, counted),
            limit,
            prefix,
            counted,
          );
        },
        priority: () => lowestPending(query),
      },
      priorityOf: (record) => record.priority,
      // `room` was counted under the queue's lock, and each pass asks for what is left of it.
      hasRoom: () => Promise.resolve(true),
      sawEvery: () => sawEvery,
      dueAbove,
    },
    flow.fair,
    room,
  );
  // By priority, as the looks: one walk over every priority read each row scheduled for later
  // too.
  const hasDue = keyed ? 'attemptQueueHasDue' : 'attemptUnkeyedQueueHasDue';
  let list = unsure && !sawDue ? await dueAbove(null) : [];
  for (; list.length > 0; list = await dueAbove(list.at(-1)!)) {
    const params = [horizon, horizon, flow.queue, ...priorityParams(list)];
    if ((await query(hasDue, params)).rows.length > 0) {
      sawDue = true;
      break;
    }
  }
  return { records, now: now ?? new Date(), exhausted: !sawDue };
}

/**
 * The first looks' parameters (flow-queries.ts): of some priorities, or (null) none for the
 * statement that finds the lowest; a counted look asks for one row more.
 */
function candidateParams(
  flow: QueueFlow,
  horizon: string | null,
  room: number,
  prefix: number,
  priorities: readonly number[] | null,
  counted: boolean,
): unknown[] {
  const perKey = flow.rateLimit?.perKey === true;
  return [
    horizon,
    horizon,
    flow.queue,
    ...(priorities === null ? [] : priorityParams(priorities)),
    prefix,
    flow.queue,
    perKey ? 1 : 0,
    flow.queue,
    (flow.rateLimit?.periodMs ?? 0) * 1000,
    flow.keyConcurrency,
    perKey ? 1 : 0,
    flow.rateLimit?.limit ?? 0,
    counted ? room + 1 : room,
  ];
}

/**
 * The parameters of a look by key (key-walk-queries.ts), in the order they appear: of one
 * priority after a short first look, or, fair, of every pending one.
 */
function keyLookParams(
  flow: QueueFlow,
  horizon: string | null,
  room: number,
  priorities: readonly number[],
): unknown[] {
  const { queue, fair } = flow;
  const perKey = flow.rateLimit?.perKey === true ? 1 : 0;
  const rateLimit = flow.rateLimit?.limit ?? 0;
  const periodUs = (flow.rateLimit?.periodMs ?? 0) * 1000;
  const rooms = [
    ...[queue, room, flow.keyConcurrency, perKey, rateLimit, room],
    ...[queue, perKey, queue, periodUs],
  ];
  const unkeyedRate = [perKey, rateLimit, queue, periodUs];
  const due = [horizon, horizon];
  if (fair) {
    return [
      ...[...rooms, JSON.stringify(priorities), room, room],
      ...[queue, queue, ...due, ...due],
      ...[...unkeyedRate, room],
    ];
  }
  const ofKey = [queue, priorities[0]];
  return [
    ...[...rooms, ...ofKey, ...ofKey, ...due, ...due],
    ...[...ofKey, ...due, room, ...unkeyedRate, room],
  ];
}

/** Records the starts of a rate-limited claim, in its transaction, at the database's clock now. */
export async function recordStarts(
  query: FlowQuery,
  flow: QueueFlow,
  records: readonly AttemptRecord[],
): Promise<void> {
  if (flow.rateLimit === null || records.length === 0) return;
  await query('flowRecordStarts', [idsJson(records)]);
}
