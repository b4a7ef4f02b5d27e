import type { AttemptRecord, AttemptStatus } from '../core/attempt.js';
import type { QueueFlow } from '../core/flow.js';
import type { Retention } from '../core/retention.js';
import type { WorkerInfo } from '../core/worker-info.js';

/** One row `enqueue` writes. Arguments are already encoded (and encrypted, if asked). */
export interface AttemptInsertParams {
  readonly target: string;
  readonly methodName: string;
  readonly methodArgs: string | null;
  readonly encryptor: string | null;
  readonly maxAttempts: number;
  readonly queue: string;
  readonly priority: number;
  readonly idempotenceToken: string | null;
  /** null: due now, by the database's clock. */
  readonly scheduledAt: Date | null;
  /** Groups attempts for per-key limits and fair claims; absent or null: none. */
  readonly concurrencyKey?: string | null;
  /**
   * Debounce: when an attempt holding the same token is still `pending`, it takes this row's
   * `methodArgs`, `encryptor` and `scheduledAt` (the last such row of a batch wins); one that is
   * running or finished is left as it is. Only meaningful with a token.
   */
  readonly replacePending?: boolean;
  /** The enqueuing span's context (see `AttemptRecord.traceContext`). @defaultValue null */
  readonly traceContext?: string | null;
}

export interface AttemptInsertResult {
  readonly record: AttemptRecord;
  /** false when an attempt with the same target, method and idempotence token already existed. */
  readonly inserted: boolean;
}

export interface AttemptClaimParams {
  readonly lockedBy: string;
  readonly limit: number;
  readonly leaseMs: number;
  /** null: every queue. */
  readonly queues: readonly string[] | null;
  /**
   * With `queues` null: every queue but these (those with flow control, which only
   * `attemptClaimLimited` claims). Absent or empty: none left out.
   */
  readonly exceptQueues?: readonly string[];
  /** Claim nothing scheduled after this (a `runDue` pass passes its start); null: no bound. */
  readonly horizon: Date | null;
  /**
   * Wait for the claim's commit to be durable (PostgreSQL: its WAL flush) before returning. When
   * false, a database crash can forget a claim made in its last moments. Other dialects always
   * commit claims as the server is set.
   */
  readonly durable: boolean;
  /**
   * Return each attempt's `traceContext` (telemetry is on). Where reading it costs the claim
   * something (PostgreSQL), it is read only when asked; elsewhere it always comes along.
   * @defaultValue false
   */
  readonly traceContext?: boolean;
}

/** A claim from one queue with flow control: the limits hold across every claimer. */
export interface AttemptClaimLimitedParams extends Omit<
  AttemptClaimParams,
  'queues' | 'exceptQueues'
> {
  readonly flow: QueueFlow;
}

export interface AttemptClaimResult {
  readonly records: readonly AttemptRecord[];
  /** The database's clock when it claimed. */
  readonly now: Date;
  /**
   * A limited claim that had room and saw no due attempt of its queue at all (not one its limits
   * held back). Absent where the dialect does not tell.
   */
  readonly exhausted?: boolean;
}

/** Executor.flowRateWindow: a queue's rate-limit windows as of one instant. */
export interface RateWindow {
  /**
   * Milliseconds until the first window that holds `limit` starts now has room (one start leaves
   * it); null when none is full.
   */
  readonly fullForMs: number | null;
  /**
   * A window held `limit` starts within the last period and has room now: a claim that found it
   * full a moment ago would find room.
   */
  readonly freedLately: boolean;
}

/** Identifies one claim of one attempt: fenced writes match all three. */
export interface LeaseRef {
  readonly id: string;
  readonly numAttempts: number;
}

/**
 * One run's outcome. Whatever its status, a row whose cancel was requested meanwhile is written
 * `expired` with last error 'Cancelled' (see `attemptCancel`).
 */
export interface AttemptCompletion extends LeaseRef {
  readonly status: Extract<AttemptStatus, 'succeeded' | 'pending' | 'failed' | 'expired'>;
  /** For `pending`: how long until it is due again. */
  readonly delayMs: number;
  /** Recorded in `last_error`; null keeps the previous value. */
  readonly error: string | null;
  /**
   * For a status other than succeeded: when the run's handler started and ended, by the worker's
   * clock (epoch milliseconds), for the entry the run adds to the attempt's run history. Absent:
   * started unknown, ended at the database's now. A succeeded completion carries neither.
   */
  readonly startedAtMs?: number;
  readonly endedAtMs?: number;
}

/** A running attempt's progress, as its handler last reported it (see `ctx.progress`). */
export interface AttemptProgressParams extends LeaseRef {
  readonly lockedBy: string;
  /** From 0 to 1. */
  readonly progress: number;
  readonly message: string | null;
}

export interface AttemptListParams {
  readonly status: AttemptStatus | null;
  readonly target: string | null;
  readonly methodName: string | null;
  readonly queue: string | null;
  /** Only attempts with a smaller id (the cursor of the previous page). */
  readonly beforeId: string | null;
  /** Only the attempt(s) with this idempotence token; absent or null: any. */
  readonly idempotenceToken?: string | null;
  /** Only attempts with a larger id: bounds how far back a search reads. Absent or null: none. */
  readonly afterId?: string | null;
  readonly limit: number;
}

/**
 * The attempt of one (target, method) with the greatest idempotence token from `tokenFrom` to
 * `tokenTo`, among tokens as long as those two that start with `tokenPrefix`: tokens whose suffix
 * sorts in time order, such as a schedule's ticks (`schedule:<name>:<ISO instant>`), where the
 * greatest is the newest. The prefix and length checks keep out another family's tokens that
 * sort inside the range (schedule `a:3`'s within schedule `a`'s).
 */
export interface AttemptTokenRangeParams {
  readonly target: string;
  readonly methodName: string;
  readonly tokenFrom: string;
  readonly tokenTo: string;
  readonly tokenPrefix: string;
  /**
   * The newest tokens the family may hold, newest first: a dialect whose idempotence index cannot
   * be read as a range (MySQL's holds a hash of target, method and token) looks up these only.
   */
  readonly recentTokens: readonly string[];
}

/** A rate-limited queue's starts in the window that ends now (see `startCount`). */
export interface StartCount {
  readonly started: number;
  /**
   * The concurrency key with the most starts in the window (`key` null: the attempts without
   * one, which share a count), or null when the window holds no start.
   */
  readonly busiestKey: { readonly key: string | null; readonly started: number } | null;
}

/** How many attempts reached one final outcome in one minute (see `attemptOutcomesLastHour`). */
export interface AttemptOutcomesRow {
  /** The minute's start. */
  readonly minute: Date;
  readonly status: Extract<AttemptStatus, 'succeeded' | 'failed'>;
  readonly count: number;
}

/** How many attempts have one status in one queue. */
export interface AttemptStatsRow {
  readonly status: AttemptStatus;
  readonly queue: string;
  readonly count: number;
  /** `count` is an estimate (succeeded attempts of a large table only). */
  readonly approximate: boolean;
}

export interface AttemptPruneParams {
  /** Ages are the database's: finished attempts whose `completed_at` is before this go. */
  readonly before: Date;
  /**
   * The batch starts after this id; `'0'` starts at the beginning of the table. Each batch goes
   * on from where the last one stopped, so a prune reads the table once, not once per batch.
   */
  readonly afterId: string;
  readonly limit: number;
}

export interface AttemptPruneResult {
  readonly deleted: number;
  /**
   * Where the next batch starts: the last attempt this one found to delete. Null when it found
   * fewer than `limit`, so the walk reached the end of the table.
   */
  readonly nextAfterId: string | null;
}

/**
 * One step of the retention sweep: a window of `limit` attempts (any status) in id order after
 * `afterId`, in which finished attempts past their status's retention are deleted.
 */
export interface AttemptPruneWindowParams {
  /** The window starts after this id; `'0'` starts at the beginning of the table. */
  readonly afterId: string;
  readonly limit: number;
  /** Ages are measured on the database's clock, from `completed_at`. */
  readonly retention: Retention;
}

export interface AttemptPruneWindowResult {
  /** False when another process holds this table's prune lock: nothing was read or deleted. */
  readonly locked: boolean;
  readonly deleted: number;
  /** The window's last attempt, where the next window starts; null when none is after `afterId`. */
  readonly lastId: string | null;
  /**
   * The window reached attempts created too recently to be past any retention, or the end of the
   * table: later attempts cannot be pruned yet, so the sweep can start over.
   */
  readonly done: boolean;
}

/** One heartbeat of a worker: its whole row in the worker registry (`<table>_workers`). */
export interface WorkerBeatParams {
  readonly id: string;
  readonly hostname: string;
  readonly pid: number;
  /** Null: every queue. */
  readonly queues: readonly string[] | null;
  readonly concurrency: number;
  /** Attempts held now. */
  readonly running: number;
  /** How long after this beat, on the database's clock, the worker counts as alive. */
  readonly aliveMs: number;
}

export interface SchemaState {
  /**
   * The version the table is at, read from the table itself (see `schema-marker.ts`): 0 when the
   * table does not exist, null when it exists without an async-task version (made by something
   * else, or by async-task 0.1, which kept its versions in a separate table that migrate() adopts).
   */
  readonly version: number | null;
  /** Applied versions this code does not know and that declared themselves breaking. */
  readonly breakingUnknown: readonly number[];
}

/**
 * Every database operation async-task performs, bound to one connection or transaction.
 * `attemptInsertMany`, `attemptGet` and `attemptList` run on whatever the caller passed (often a
 * transaction, maybe a pool); every other operation is called with a connection from
 * `Driver.run`, which is a single autocommit connection and may be used for a short transaction.
 * `attemptInsertMany` on a synchronous connection (one with `querySync`) must issue its INSERT
 * before returning, so that it lands inside the caller's synchronous transaction.
 * Named noun-first; each dialect implements each with one statement where it can.
 */
export interface Executor {
  /**
   * Cancels one attempt: `pending` → `expired` (last error 'Cancelled', `completed_at` set), or
   * marks a `running` one cancel-requested (and, where the database can, notifies the workers on
   * the channel of `Dialect.notifyChannel` with payload `cancel <id>`). Returns the row after,
   * else null (finished, or no such attempt). A claim racing it either took the row first (it is
   * marked) or finds it expired.
   */
  attemptCancel(id: string): Promise<AttemptRecord | null>;
  /** Claims due pending attempts under a lease (skipping rows other workers hold). */
  attemptClaim(params: AttemptClaimParams): Promise<AttemptClaimResult>;
  /**
   * Claims due pending attempts of one queue within its limits (running per queue, running per
   * concurrency key), serialised with every other limited claim of that queue so that racing
   * claimers never exceed them. Takes at most `limit`; fewer (or none) at a limit.
   */
  attemptClaimLimited(params: AttemptClaimLimitedParams): Promise<AttemptClaimResult>;
  /**
   * The windows of a queue's rate limit (per key, with `perKey`) as of now, by the database's
   * clock: how long until the first full one has room, and whether one that was full lately has
   * room now (see RateWindow). Nothing full for a queue without a rate limit.
   */
  flowRateWindow(flow: QueueFlow): Promise<RateWindow>;
  /**
   * Records outcomes, fenced: only rows still running under `lockedBy` with that attempt count.
   * Returns ids written. An outcome other than succeeded also appends an entry to the attempt's
   * run history (RunRecord; the oldest dropped past 20); succeeded ones are written by a statement
   * of their own that touches no history, so the success path costs what it always did (unless
   * a cancel request turned the success into `expired`: then it adds the run's entry too).
   * `cancelled` of the result: ids written whose cancel request turned an outcome other than
   * `expired` into `expired` (a request that landed after the worker last looked).
   */
  attemptCompleteMany(
    lockedBy: string,
    completions: readonly AttemptCompletion[],
  ): Promise<WrittenIds>;
  /** Pushes leases forward; returns the ids still held. */
  attemptExtendLeases(
    lockedBy: string,
    leases: readonly LeaseRef[],
    leaseMs: number,
  ): Promise<string[]>;
  attemptGet(id: string): Promise<AttemptRecord | null>;
  /** See {@link AttemptTokenRangeParams}: through the idempotence index, at most one row. */
  attemptGetLastInTokenRange(params: AttemptTokenRangeParams): Promise<AttemptRecord | null>;
  /**
   * Inserts rows in one statement; idempotence-token conflicts return the existing row, after
   * `replacePending` rows replaced what a pending one holds. Results in input order.
   */
  attemptInsertMany(rows: readonly AttemptInsertParams[]): Promise<AttemptInsertResult[]>;
  attemptList(params: AttemptListParams): Promise<AttemptRecord[]>;
  /** Which of these held leases have a cancel request: a primary-key lookup per lease. */
  attemptListCancelRequested(leases: readonly LeaseRef[]): Promise<string[]>;
  /**
   * Attempts that succeeded or failed for good in the last hour (database clock), per minute and
   * status; minutes without any are left out. For the dashboard's charts.
   */
  attemptOutcomesLastHour(): Promise<AttemptOutcomesRow[]>;
  /** Hands leased attempts back without counting the run (graceful shutdown). Returns ids released. */
  attemptReleaseMany(lockedBy: string, leases: readonly LeaseRef[]): Promise<string[]>;
  /**
   * Returns attempts whose lease ran out to `pending`, or `failed` when out of attempts, or
   * `expired` ('Cancelled') when their cancel was requested; each gets a run history entry
   * ('lease expired', or 'cancelled'; started unknown, ended at the database's now).
   */
  attemptRescueExpired(limit: number): Promise<AttemptRecord[]>;
  /** `pending` → `status` (with `completed_at`), else null. */
  attemptSetFinalIfPending(id: string, status: 'expired' | 'failed'): Promise<AttemptRecord | null>;
  /**
   * `failed`/`expired` → `pending`, due now, with room for one more run and any cancel request
   * cleared; else null.
   */
  attemptSetPendingIfFinished(id: string): Promise<AttemptRecord | null>;
  /**
   * Moves the due time of every pending attempt `ms` (a whole number) earlier, as if `ms` had
   * passed on the database's clock: async-task/testing's `advanceTime`. Returns how many it moved.
   */
  attemptShiftScheduled(ms: number): Promise<number>;
  /**
   * Records a running attempt's progress, fenced like completion: only while `lockedBy` still
   * holds that run (status running, same attempt count); otherwise it changes nothing.
   */
  attemptSetProgress(params: AttemptProgressParams): Promise<void>;
  /**
   * One batch of a manual prune: deletes up to `limit` finished attempts completed before
   * `before`, the first ones after `afterId` along the primary key.
   */
  attemptPrune(params: AttemptPruneParams): Promise<AttemptPruneResult>;
  /**
   * One window of the retention sweep, under a per-table try-lock so that one process prunes a
   * table at a time (a window that finds the lock taken does nothing and says so).
   */
  attemptPruneWindow(params: AttemptPruneWindowParams): Promise<AttemptPruneWindowResult>;
  /**
   * Counts per (status, queue) that has at least one attempt; order unspecified. Succeeded counts
   * may be estimates on a large table (flagged), every other count is exact.
   */
  attemptStats(): Promise<AttemptStatsRow[]>;
  /**
   * Writes a worker's row in the registry (inserted at its first beat, with `startedAt`; later
   * beats refresh it) and deletes the rows of workers whose `aliveUntil` passed over an hour ago.
   * One statement on PostgreSQL, two elsewhere; the same whatever the worker holds.
   */
  workerBeat(params: WorkerBeatParams): Promise<void>;
  /** Deletes a worker's row from the registry (the worker stopped). */
  workerDelete(id: string): Promise<void>;
  /** Workers whose `aliveUntil` is still ahead on the database's clock, by `startedAt`. */
  workerListAlive(): Promise<WorkerInfo[]>;
  /**
   * The starts a rate-limited claim of `queue` counts now (rows of `<table>_starts` from the last
   * `periodMs`), through the starts index; a plain read (the dashboard's limits).
   */
  startCount(queue: string, periodMs: number): Promise<StartCount>;
  /**
   * The database's clock now. For what must agree with the database's times though this process
   * decides it (a schedule's retention bound, MySQL's marker holds): a host's clock may be off.
   */
  databaseNow(): Promise<Date>;
}

/**
 * Ids a fenced completion wrote; `cancelled`, when any: those of them a cancel request turned
 * `expired` though their completion said otherwise. Not enumerable, so the ids still compare as
 * the plain list they are.
 */
export type WrittenIds = string[] & { readonly cancelled?: readonly string[] };

/** `ids`, carrying `cancelled` when it has any. */
export function writtenIds(ids: string[], cancelled: readonly string[]): WrittenIds {
  if (cancelled.length > 0) Object.defineProperty(ids, 'cancelled', { value: cancelled });
  return ids;
}
