import type { AttemptRecord } from '../../core/attempt.js';
import type { QueueFlow } from '../../core/flow.js';
import type { TableName } from '../../seam/driver.js';
import type {
  AttemptClaimLimitedParams,
  AttemptClaimParams,
  AttemptClaimResult,
  AttemptCompletion,
  AttemptInsertParams,
  AttemptInsertResult,
  AttemptListParams,
  AttemptPruneParams,
  AttemptPruneResult,
  AttemptPruneWindowParams,
  AttemptPruneWindowResult,
  AttemptStatsRow,
  AttemptTokenRangeParams,
  Executor,
  LeaseRef,
  RateWindow,
  WrittenIds,
} from '../../seam/executor.js';
import { writtenIds } from '../../seam/executor.js';
import type { SqlConnection } from '../../seam/sql-connection.js';
import {
  claimOrder,
  claimedRecordMapper,
  convertingParsers,
  idOf,
  recordMapper,
  tokenKey,
} from '../attempt-rows.js';
import { ClaimedValues } from '../claimed-values.js';
import { splitCompletions } from '../completions.js';
import { replacingRows } from '../match-inserted.js';
import { SqlExecutor, type ExecutorDialect } from '../sql-executor.js';
import {
  cancelledMarker,
  insertParams,
  insertStatement,
  markedBy,
  markerHold,
  matchMarked,
  newMarker,
  replaceJson,
  tokensJson,
  uniqueTokens,
  visible,
} from './marked-rows.js';
import { bindStatements, quoteTable, type StatementName } from './bound-statements.js';
import { isNoSuchTable } from './missing-table.js';
import {
  completionJson,
  idsJson,
  leasesJson,
  uniqueLeases,
  unsucceededJson,
} from './json-params.js';
import { claimWalkOf } from './queue-claim.js';
import { sqlTime } from './sql-time.js';
import { mysqlStats } from './stats.js';
import { claimLimitedByPriority, limitedRoom, type FlowQuery } from './flow-room.js';
import { readRateWindow } from '../rate-wait.js';
import { pruneBatch, pruneWindow } from './prune-window.js';
import { checkInsertSession } from './session-check.js';
import { dueByPriority } from '../priority-walk.js';

export { quoteTable };

/**
 * The MySQL / MariaDB executor. Ids travel as text, times as UTC text in and epoch milliseconds
 * out, lists as one JSON parameter.
 *
 * Without RETURNING, operations that must know which rows they wrote use one of two tools:
 * - the claim and the rescue run in a short transaction of their own (`SELECT … FOR UPDATE SKIP
 *   LOCKED`, then `UPDATE` by id); they are only ever called on a `Driver.run` connection;
 * - enqueue, completion and release mark the rows they write with a one-off `locked_by` value,
 *   read them back by it and clear it. They open no transaction, because they run on the
 *   caller's transaction (enqueue), inside `ctx.transaction` (completion), or both ways, and
 *   `START TRANSACTION` would silently commit the caller's. The marker's `locked_until` keeps
 *   claimers off a marked row while the connection is in autocommit mode (the pool).
 */
export class MysqlExecutor extends SqlExecutor<StatementName> implements Executor {
  constructor(connection: SqlConnection, table: TableName) {
    super(connection, table, mysql);
  }

  async attemptClaim(params: AttemptClaimParams): Promise<AttemptClaimResult> {
    const horizon = params.horizon === null ? null : sqlTime(params.horizon);
    return this.#transaction(async (tx) => {
      const walk = await claimWalkOf((name, values) => tx.query(name, values), params, horizon);
      if (walk === null) return { records: [], now: new Date() };
      return tx.#lease(await dueByPriority(walk, params.limit), params);
    });
  }

  /**
   * Serialised per queue by the lock row of migration 0004, taken first in the claim's
   * transaction; each statement after it reads the newest committed rows (READ COMMITTED), so the
   * counts include every earlier claim of the queue. The candidates are read without locks (no
   * other claimer takes this queue's rows meanwhile), then locked with SKIP LOCKED, which leaves
   * out a row an enqueue or a release still holds, and leased.
   */
  async attemptClaimLimited(params: AttemptClaimLimitedParams): Promise<AttemptClaimResult> {
    const { flow } = params;
    const horizon = params.horizon === null ? null : sqlTime(params.horizon);
    return this.#transaction(async (tx) => {
      const query: FlowQuery = (name, values) => tx.query(name, values);
      await query('flowLock', [flow.queue]);
      const room = await limitedRoom(query, flow, params.limit);
      if (room.room <= 0) return { records: [], now: new Date() };
      return claimLimitedByPriority(query, flow, horizon, room, (rows, at) =>
        tx.#lease(rows, params, at),
      );
    });
  }

  flowRateWindow(flow: QueueFlow): Promise<RateWindow> {
    return readRateWindow(flow, (params) => this.query('flowRateWindow', params));
  }

  /**
   * Second half of a claim, in its transaction: leases the rows the first half locked, from `at`
   * (the time of a limited claim's first pass) or the database's time of the locking read.
   */
  async #lease(
    rows: readonly Record<string, unknown>[],
    params: { readonly lockedBy: string; readonly leaseMs: number },
    at?: Date,
  ): Promise<AttemptClaimResult> {
    const first = rows[0];
    if (!first) return { records: [], now: new Date() };
    const now = at ?? convertingParsers.date(first['db_now']);
    const lockedUntil = new Date(now.getTime() + params.leaseMs);
    const shared = new ClaimedValues();
    // In the claim's order: a claim of several queues reads each queue's share on its own.
    const records = rows.map((row) => toClaimedRecord(row, shared)).sort(claimOrder);
    await this.query('attemptClaimUpdate', [
      idsJson(records),
      params.lockedBy,
      sqlTime(lockedUntil),
      sqlTime(now),
    ]);
    // The rows are locked since the SELECT, so the UPDATE wrote exactly these values.
    return {
      records: records.map((record) => ({
        ...record,
        status: 'running',
        numAttempts: record.numAttempts + 1,
        lockedBy: params.lockedBy,
        lockedUntil,
        updatedAt: now,
      })),
      now,
    };
  }

  /**
   * In a short transaction: the row lock of the first read orders this against a claim of the
   * same row (which skips it, or which it waits for), so the row read back is what this wrote.
   */
  async attemptCancel(id: string): Promise<AttemptRecord | null> {
    return this.#transaction(async (tx) => {
      if ((await tx.query('attemptCancelLock', [id])).rows.length === 0) return null;
      await tx.query('attemptCancel', [id]);
      return tx.attemptGet(id);
    });
  }

  /** Successes through their own statement, as they always were; the rest add to the run history. */
  async attemptCompleteMany(
    lockedBy: string,
    completions: readonly AttemptCompletion[],
  ): Promise<WrittenIds> {
    const unique = uniqueLeases(completions);
    if (unique.length === 0) return [];
    const { succeeded, unsucceeded } = splitCompletions(unique);
    const written = succeeded.length === 0 ? [] : await this.#complete(lockedBy, succeeded, false);
    if (unsucceeded.length === 0) return written;
    const rest = await this.#complete(lockedBy, unsucceeded, true);
    // An `expired` completion is a cancel the worker knew of: not one that turned its outcome.
    const turned = (rest.cancelled ?? []).filter(
      (id) => unsucceeded.find((completion) => completion.id === id)?.status !== 'expired',
    );
    return writtenIds([...written, ...rest], [...(written.cancelled ?? []), ...turned]);
  }

  /** Marked even for one: a row a cancel request turned `expired` carries the second marker. */
  async #complete(
    lockedBy: string,
    unique: readonly AttemptCompletion[],
    withRun: boolean,
  ): Promise<WrittenIds> {
    const marker = newMarker('complete');
    const hold = await markerHold(this.table, () => this.databaseNow());
    const list = JSON.stringify(unique.map(withRun ? unsucceededJson : completionJson));
    const written = await this.query(
      withRun ? 'attemptCompleteUnsucceededMany' : 'attemptCompleteMany',
      [list, lockedBy, marker, cancelledMarker(marker), hold, lockedBy],
    );
    return this.#takeMarked(unique, written.rowCount, marker);
  }

  async attemptExtendLeases(
    lockedBy: string,
    leases: readonly LeaseRef[],
    leaseMs: number,
  ): Promise<string[]> {
    const unique = uniqueLeases(leases);
    if (unique.length === 0) return [];
    const list = leasesJson(unique);
    await this.query('attemptExtendLeases', [list, Math.round(leaseMs) * 1000, lockedBy]);
    const held = await this.query('attemptGetHeld', [list, lockedBy]);
    return held.rows.map(idOf);
  }

  async attemptGet(id: string): Promise<AttemptRecord | null> {
    const result = await this.query('attemptGet', [id]);
    const row = result.rows[0];
    return row ? visible(toRecord(row)) : null;
  }

  /** Looks up `recentTokens` only: the idempotence index holds hashes, not tokens in order. */
  async attemptGetLastInTokenRange(params: AttemptTokenRangeParams): Promise<AttemptRecord | null> {
    if (params.recentTokens.length === 0) return null;
    const tokens = JSON.stringify(params.recentTokens);
    const result = await this.query('attemptGetLastInTokenRange', [
      tokens,
      params.target,
      params.methodName,
    ]);
    const row = result.rows[0];
    return row ? visible(toRecord(row)) : null;
  }

  async attemptInsertMany(rows: readonly AttemptInsertParams[]): Promise<AttemptInsertResult[]> {
    if (rows.length === 0) return [];
    await checkInsertSession(this.table, this.connection);
    const marker = newMarker('enqueue');
    const hold = await markerHold(this.table, () => this.databaseNow());
    await this.run(insertStatement(this.statements, rows.length), insertParams(rows, marker, hold));
    const replacing = replacingRows(rows);
    if (replacing.length > 0) await this.query('attemptReplacePending', [replaceJson(replacing)]);

    // Every row without a token was inserted; rows with one were inserted unless it was taken.
    const marked = rows.some((row) => row.idempotenceToken === null)
      ? (await this.query('attemptGetMarked', [hold, marker])).rows.map(toRecord)
      : [];
    const found = new Map<string, AttemptRecord>();
    for (const record of marked) {
      if (record.idempotenceToken !== null) found.set(tokenKey(record), record);
    }
    const missing = uniqueTokens(rows.filter((row) => !found.has(tokenKey(row))));
    if (missing.length > 0) {
      const result = await this.query('attemptGetByTokens', [tokensJson(missing)]);
      for (const record of result.rows.map(toRecord)) found.set(tokenKey(record), record);
    }
    const mine = markedBy(marker, marked, found);
    if (mine.length > 0) await this.query('attemptUnmark', [idsJson(mine), marker]);
    return matchMarked(rows, marked, found, marker);
  }

  async attemptList(params: AttemptListParams): Promise<AttemptRecord[]> {
    const { status, target, methodName, queue, beforeId, limit } = params;
    const optional = [params.idempotenceToken ?? null, params.afterId ?? null];
    const twice = [status, target, methodName, queue, beforeId, ...optional].flatMap((v) => [v, v]);
    // A token with its target and method: by the unique index of their hash, not a table scan.
    const key = [target, methodName, params.idempotenceToken ?? null];
    const byKey = key.every((v) => v !== null) ? [1, ...key] : [null, null, null, null];
    const result = await this.query('attemptList', [...twice, ...byKey, limit]);
    return result.rows.map((row) => visible(toRecord(row)));
  }

  async attemptListCancelRequested(leases: readonly LeaseRef[]): Promise<string[]> {
    if (leases.length === 0) return [];
    return (await this.query('attemptListCancelRequested', [leasesJson(leases)])).rows.map(idOf);
  }

  async attemptShiftScheduled(ms: number): Promise<number> {
    const result = await this.query('attemptShiftScheduled', [ms * 1000]);
    return result.rowCount;
  }

  attemptPrune(params: AttemptPruneParams): Promise<AttemptPruneResult> {
    return pruneBatch(params, (name, values) => this.query(name, values));
  }

  /**
   * GET_LOCK, the window read, the delete and RELEASE_LOCK in one short READ COMMITTED
   * transaction: the lock belongs to the session, and the transaction is what keeps one
   * connection for all four on every client. The lock is released before the commit (after it,
   * a client may have moved on to another connection); a pruner that takes it in between finds
   * these rows locked, waits for the commit and deletes nothing twice.
   */
  attemptPruneWindow(params: AttemptPruneWindowParams): Promise<AttemptPruneWindowResult> {
    return pruneWindow(this.table, params, (fn) =>
      this.#transaction((tx) => fn((name, values) => tx.query(name, values))),
    );
  }

  async attemptReleaseMany(lockedBy: string, leases: readonly LeaseRef[]): Promise<string[]> {
    const unique = uniqueLeases(leases);
    if (unique.length === 0) return [];
    const marker = unique.length === 1 ? null : newMarker('release');
    const released = await this.query('attemptReleaseMany', [
      leasesJson(unique),
      marker,
      marker === null ? null : await markerHold(this.table, () => this.databaseNow()),
      lockedBy,
    ]);
    return this.#takeMarked(unique, released.rowCount, marker);
  }

  async attemptRescueExpired(limit: number): Promise<AttemptRecord[]> {
    return this.#transaction(async (tx) => {
      const expired = await tx.query('attemptRescueSelect', [limit]);
      if (expired.rows.length === 0) return [];
      const list = JSON.stringify(
        expired.rows.map((row) => ({
          id: idOf(row),
          by: row['locked_by'] as string,
          error: row['error'] as string,
        })),
      );
      await tx.query('attemptRescueUpdate', [list]);
      const rescued = await tx.query('attemptGetByIds', [list]);
      return rescued.rows.map(toRecord);
    });
  }

  async attemptSetFinalIfPending(
    id: string,
    status: 'expired' | 'failed',
  ): Promise<AttemptRecord | null> {
    const result = await this.query('attemptSetFinalIfPending', [status, id]);
    return result.rowCount === 0 ? null : this.attemptGet(id);
  }

  async attemptSetPendingIfFinished(id: string): Promise<AttemptRecord | null> {
    const result = await this.query('attemptSetPendingIfFinished', [id]);
    return result.rowCount === 0 ? null : this.attemptGet(id);
  }

  async attemptStats(): Promise<AttemptStatsRow[]> {
    return mysqlStats(this.table, (name, params) => this.query(name, params));
  }

  /**
   * The ids among `leases` that a fenced write just wrote (`count` rows), marked with `marker` (a
   * completion's also with `cancelledMarker(marker)`), unmarked again; `null`: a write of one
   * lease, whose count says everything.
   */
  async #takeMarked(
    leases: readonly LeaseRef[],
    count: number,
    marker: string | null,
  ): Promise<WrittenIds> {
    if (count === 0) return [];
    if (marker === null) return leases.map((lease) => lease.id);
    const list = leasesJson(leases);
    const all = count === leases.length;
    const ids = all
      ? leases.map((lease) => lease.id)
      : (await this.query('attemptGetMarkedIds', [list, marker])).rows.map(idOf);
    const unmarked = (await this.query('attemptUnmark', [list, marker])).rowCount;
    if (unmarked >= count) return ids;
    // The rest carry the second marker: outcomes a cancel request turned `expired`.
    const other = cancelledMarker(marker);
    const cancelled = (await this.query('attemptGetMarkedIds', [list, other])).rows.map(idOf);
    await this.query('attemptUnmark', [list, other]);
    return writtenIds(all ? ids : [...ids, ...cancelled], cancelled);
  }

  /**
   * A short transaction of the executor's own; only for operations called on a `Driver.run`
   * connection (START TRANSACTION would commit a caller's transaction). READ COMMITTED: the
   * locking reads of the claim and the rescue then lock only the rows they return, never the gaps
   * between index entries (REPEATABLE READ's next-key locks), which two claimers moving rows out
   * of the same index would deadlock on.
   */
  #transaction<T>(fn: (tx: MysqlExecutor) => Promise<T>): Promise<T> {
    return this.connection.transaction(
      (connection) =>
        fn(connection === this.connection ? this : new MysqlExecutor(connection, this.table)),
      { isolation: 'read committed' },
    );
  }
}

/** Epoch milliseconds come as numbers, or as strings under `bigNumberStrings`. */
const toRecord = recordMapper(convertingParsers);
const toClaimedRecord = claimedRecordMapper(convertingParsers);

const mysql: ExecutorDialect<StatementName> = {
  bindStatements,
  quoteTable,
  isMissingTable: isNoSuchTable,
};
