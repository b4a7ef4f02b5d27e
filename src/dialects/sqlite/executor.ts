import type { AttemptRecord } from '../../core/attempt.js';
import { AsyncTaskError, ConfigError } from '../../core/errors.js';
import { shortestRetentionMs } from '../../core/retention.js';
import type { QueueFlow } from '../../core/flow.js';
import type { TableName } from '../../seam/driver.js';
import type {
  AttemptClaimLimitedParams,
  AttemptClaimParams,
  AttemptClaimResult,
  AttemptInsertParams,
  AttemptInsertResult,
  AttemptPruneParams,
  AttemptPruneResult,
  AttemptPruneWindowParams,
  AttemptPruneWindowResult,
  AttemptStatsRow,
  Executor,
  RateWindow,
} from '../../seam/executor.js';
import type { SqlConnection } from '../../seam/sql-connection.js';
import {
  claimedRecordMapper,
  byId,
  claimOrder,
  convertingParsers,
  idOf,
  recordMapper,
  tokenKey,
} from '../attempt-rows.js';
import { ClaimedValues } from '../claimed-values.js';
import { insertRowsJson } from '../insert-json.js';
import { dueByPriority } from '../priority-walk.js';
import { exactStats, statsByIdSample } from '../estimated-stats.js';
import {
  matchInserted,
  missingTokens,
  replacingRows,
  splitInserted,
  type InsertedRows,
} from '../match-inserted.js';
import { readRateWindow } from '../rate-wait.js';
import { ReturningExecutor, type ReturningDialect } from '../returning-executor.js';
import { plainPlaceholders, statementBinder, type BoundStatement } from '../statements.js';
import { claimStatementOf, claimWalk, queuesToClaim, type ClaimQuery } from './claim-walk.js';
import { claimLimited } from './limited-claim.js';
import * as dashboardQueries from './dashboard-queries.js';
import * as keyWalkQueries from './key-walk-queries.js';
import * as queries from './queries.js';
import * as queueClaimQueries from './queue-claim-queries.js';
import * as runQueries from './run-queries.js';
import * as workerQueries from './worker-queries.js';

const statements = {
  ...queries,
  ...queueClaimQueries,
  ...keyWalkQueries,
  ...workerQueries,
  ...dashboardQueries,
  ...runQueries,
};
type StatementName = keyof typeof statements;

/**
 * Tables whose ids span up to this many are counted exactly by stats(): a scan of 50,000 rows
 * takes about 25 ms. Ids rather than pages because SQLite has no cheap count of a table's pages.
 */
const exactStatsIds = 50_000n;
export type SqliteStatements = Readonly<Record<StatementName, BoundStatement>>;

/**
 * SQLite has no schemas, so a `schema.name` table is refused rather than guessed at. Mapping the
 * schema to an ATTACHed database is not supported either: the worker's own connection would not
 * have the attachment, and a transaction across attached WAL databases is not atomic, which would
 * break "a task exists if and only if its transaction commits".
 */
export function checkTable(table: TableName): void {
  if (table.schema !== null) {
    throw new ConfigError(
      `table "${table.schema}.${table.name}": SQLite has no schemas; use a plain table name such as "${table.name}" (or a prefix, "${table.schema}_${table.name}", to keep tables apart). Attached databases are not supported.`,
    );
  }
}

export function quoteTable(table: TableName): string {
  checkTable(table);
  return `"${table.name}"`;
}

/**
 * Fills the table name into every statement, once per table, and turns the templates' numbered
 * `?N` into plain `?` with an order, so every client binds the parameters as an array.
 */
export const bindStatements: (table: TableName) => SqliteStatements = statementBinder(
  'async_task_sqlite_',
  statements,
  (table) => ({ '{{table}}': quoteTable(table), '{{name}}': table.name }),
  plainPlaceholders,
);

/**
 * The SQLite executor. Times travel as integer milliseconds, ids as text, lists as one JSON
 * parameter. On a synchronous connection (`querySync`), `attemptInsertMany` does all its work
 * before returning, and throws rather than rejects, so an enqueue inside better-sqlite3's
 * `db.transaction(() => …)` writes in that transaction and a failure rolls it back.
 */
export class SqliteExecutor extends ReturningExecutor<StatementName> implements Executor {
  /** @throws ConfigError for a `schema.name` table (see {@link checkTable}). */
  constructor(connection: SqlConnection, table: TableName) {
    super(connection, table, sqlite);
  }

  async attemptClaim(params: AttemptClaimParams): Promise<AttemptClaimResult> {
    const query: ClaimQuery = (name, values) => this.query(name, values);
    const queues = await queuesToClaim(query, params);
    if (queues?.length === 0) return claimed([]);
    const [statement, queueFilter] = claimStatementOf(params, queues);
    const rows = await dueByPriority(
      claimWalk(query, statement, [
        params.lockedBy,
        params.leaseMs,
        params.horizon === null ? null : params.horizon.getTime(),
        queueFilter,
      ]),
      params.limit,
    );
    return claimed(rows);
  }

  async attemptClaimLimited(params: AttemptClaimLimitedParams): Promise<AttemptClaimResult> {
    const { periodMs } = params.flow.rateLimit ?? {};
    if (periodMs === undefined) {
      return claimed(await claimLimited((name, values) => this.query(name, values), params));
    }
    // The starts are written in the claim's transaction, which holds the write lock from its
    // BEGIN (IMMEDIATE), or from its first statement, a write, inside a driver's own transaction
    // (Prisma): no other claim counts them before they are there.
    const atomically = <T>(fn: (tx: SqliteExecutor) => Promise<T>): Promise<T> =>
      this.connection.inTransaction?.() === true
        ? fn(this)
        : this.connection.transaction((connection) =>
            fn(connection === this.connection ? this : new SqliteExecutor(connection, this.table)),
          );
    return atomically(async (tx) => {
      await tx.query('attemptPruneStarts', [params.flow.queue, periodMs]);
      return claimed(await claimLimited((name, values) => tx.query(name, values), params));
    });
  }

  flowRateWindow(flow: QueueFlow): Promise<RateWindow> {
    return readRateWindow(flow, (params) => this.query('flowRateWindow', params));
  }

  // Not `async`: on a synchronous connection the INSERT must happen, and fail, before returning.
  attemptInsertMany(rows: readonly AttemptInsertParams[]): Promise<AttemptInsertResult[]> {
    if (rows.length === 0) return Promise.resolve([]);
    const params = [insertRowsJson(rows)];
    if (this.connection.querySync) {
      const inserted = splitRecords(this.querySync('attemptInsertMany', params).rows);
      const replacing = replacingRows(rows, inserted);
      const replaced = byToken(
        replacing.length === 0
          ? []
          : this.querySync('attemptReplacePending', [insertRowsJson(replacing)]).rows,
      );
      const missing = missingTokens(rows, inserted, replaced);
      const existing =
        missing.length === 0
          ? []
          : this.querySync('attemptGetByTokens', [tokensJson(missing)]).rows.map(toRecord);
      return Promise.resolve(matchRecords(rows, inserted, existing, replaced));
    }
    return this.#insertManyAsync(rows, params);
  }

  async attemptShiftScheduled(ms: number): Promise<number> {
    const result = await this.query('attemptShiftScheduled', [ms]);
    return result.rowCount;
  }

  async attemptPrune(params: AttemptPruneParams): Promise<AttemptPruneResult> {
    const { before, afterId, limit } = params;
    const deleted = (await this.query('attemptPrune', [before.getTime(), limit, afterId])).rows;
    if (deleted.length < limit) return { deleted: deleted.length, nextAfterId: null };
    const last = deleted.map((row) => BigInt(idOf(row))).reduce((a, b) => (a > b ? a : b));
    return { deleted: deleted.length, nextAfterId: String(last) };
  }

  /**
   * No lock to try: SQLite has one writer per database file, and each window's DELETE is one
   * statement under the write lock that checks every row it deletes, so pruners in other
   * connections or processes take turns statement by statement and never delete a row twice.
   * A cross-process try-lock would need a table of its own, for no gain. Always `locked`.
   */
  async attemptPruneWindow(params: AttemptPruneWindowParams): Promise<AttemptPruneWindowResult> {
    const { succeededMs, failedMs, expiredMs } = params.retention;
    const end = (
      await this.query('attemptPruneWindowEnd', [
        params.afterId,
        params.limit,
        shortestRetentionMs(params.retention),
      ])
    ).rows[0];
    if (!end) return { locked: true, deleted: 0, lastId: null, done: true };
    const lastId = idOf(end);
    const deleted = await this.query('attemptPruneWindowDelete', [
      params.afterId,
      lastId,
      succeededMs,
      failedMs,
      expiredMs,
    ]);
    return { locked: true, deleted: deleted.rowCount, lastId, done: Number(end['recent']) === 1 };
  }

  /**
   * Tables spanning up to {@link exactStatsIds} ids are counted exactly (one scan). Larger ones
   * count every status but succeeded exactly through their partial indexes, and estimate
   * succeeded from a sample of id ranges (see {@link idSample}).
   */
  async attemptStats(): Promise<AttemptStatsRow[]> {
    const size = (await this.query('attemptStatsSize', [])).rows[0];
    const minId = size?.['min_id'];
    const maxId = size?.['max_id'];
    if (
      typeof minId !== 'string' ||
      typeof maxId !== 'string' ||
      BigInt(maxId) - BigInt(minId) < exactStatsIds
    ) {
      return exactStats((await this.query('attemptStats', [])).rows);
    }
    return statsByIdSample(
      BigInt(minId),
      BigInt(maxId),
      async (ranges) => (await this.query('attemptStatsEstimated', [ranges])).rows,
      async () => (await this.query('attemptStats', [])).rows,
    );
  }

  async #insertManyAsync(
    rows: readonly AttemptInsertParams[],
    params: readonly unknown[],
  ): Promise<AttemptInsertResult[]> {
    const inserted = splitRecords((await this.query('attemptInsertMany', params)).rows);
    const replacing = replacingRows(rows, inserted);
    const replaced = byToken(
      replacing.length === 0
        ? []
        : (await this.query('attemptReplacePending', [insertRowsJson(replacing)])).rows,
    );
    const missing = missingTokens(rows, inserted, replaced);
    const existing =
      missing.length === 0
        ? []
        : (await this.query('attemptGetByTokens', [tokensJson(missing)])).rows.map(toRecord);
    return matchRecords(rows, inserted, existing, replaced);
  }
}

/** SQLite says `no such table: <name>` when migrate() has not run. */
export function isMissingTable(error: unknown): boolean {
  const cause = error instanceof AsyncTaskError ? error.cause : error;
  return cause instanceof Error && /\bno such table\b/i.test(cause.message);
}

/** Integers (numbers, or bigints from a client in safe-integers mode) are converted. */
const toRecord = recordMapper(convertingParsers);
const toClaimedRecord = claimedRecordMapper(convertingParsers);

const sqlite: ReturningDialect<StatementName> = {
  bindStatements,
  quoteTable,
  isMissingTable,
  toRecord,
  idOf,
  leasesJson: (leases) =>
    JSON.stringify(leases.map((l) => ({ id: l.id, numAttempts: l.numAttempts }))),
  completionsJson: (completions) =>
    JSON.stringify(
      completions.map((c) => ({
        id: c.id,
        numAttempts: c.numAttempts,
        status: c.status,
        delayMs: Math.round(c.delayMs),
        error: c.error,
      })),
    ),
  unsucceededJson: (completions) =>
    JSON.stringify(
      completions.map((c) => ({
        id: c.id,
        numAttempts: c.numAttempts,
        status: c.status,
        delayMs: Math.round(c.delayMs),
        error: c.error,
        startedAt: c.startedAtMs === undefined ? null : Math.round(c.startedAtMs),
        endedAt: c.endedAtMs === undefined ? null : Math.round(c.endedAtMs),
      })),
    ),
};

function claimed(rows: readonly Record<string, unknown>[]): AttemptClaimResult {
  const first = rows[0];
  const shared = new ClaimedValues();
  return {
    records: rows.map((row) => toClaimedRecord(row, shared)).sort(claimOrder),
    now: first ? convertingParsers.date(first['db_now']) : new Date(),
  };
}

function tokensJson(rows: readonly AttemptInsertParams[]): string {
  return JSON.stringify(
    rows.map((r) => ({
      target: r.target,
      methodName: r.methodName,
      idempotenceToken: r.idempotenceToken,
    })),
  );
}

/** The records an insert returned, in id order (input order), split by token. */
function splitRecords(rows: readonly Record<string, unknown>[]): InsertedRows<AttemptRecord> {
  return splitInserted(rows.map(toRecord).sort(byId), (record) =>
    record.idempotenceToken === null ? null : tokenKey(record),
  );
}

/** The records a replace returned, by token. */
function byToken(rows: readonly Record<string, unknown>[]): Map<string, AttemptRecord> {
  return new Map(rows.map(toRecord).map((record) => [tokenKey(record), record] as const));
}

function matchRecords(
  rows: readonly AttemptInsertParams[],
  inserted: InsertedRows<AttemptRecord>,
  existing: readonly AttemptRecord[],
  replaced: ReadonlyMap<string, AttemptRecord>,
): AttemptInsertResult[] {
  return matchInserted(
    rows,
    inserted,
    existing,
    (_, record) => record,
    'insert returned fewer rows than sent',
    replaced,
  );
}
