import type { AttemptRecord, AttemptStatus } from '../../core/attempt.js';
import { AsyncTaskError, ConfigError, SchemaOutdatedError } from '../../core/errors.js';
import type { TableName } from '../../seam/driver.js';
import type {
  AttemptClaimParams,
  AttemptClaimResult,
  AttemptCompletion,
  AttemptInsertParams,
  AttemptInsertResult,
  AttemptListParams,
  AttemptPruneWindowParams,
  AttemptPruneWindowResult,
  AttemptStatsRow,
  Executor,
  LeaseRef,
} from '../../seam/executor.js';
import type { SqlConnection, SqlResult, Statement } from '../../seam/sql-connection.js';
import { shortestRetentionMs } from '../../core/retention.js';
import { exactStats, statsByIdSample } from '../estimated-stats.js';
import { statementBinder } from '../statements.js';
import * as queries from './queries.js';

type StatementName = keyof typeof queries;

/**
 * Tables whose ids span up to this many are counted exactly by stats(): a scan of 50,000 rows
 * takes about 25 ms. Ids rather than pages because SQLite has no cheap count of a table's pages.
 */
const exactStatsIds = 50_000n;
export type SqliteStatements = Readonly<Record<StatementName, Statement>>;

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

/** Fills the table name into every statement, once per table. */
export const bindStatements: (table: TableName) => SqliteStatements = statementBinder(
  'async_task_sqlite_',
  queries,
  (table) => ({ '{{table}}': quoteTable(table), '{{name}}': table.name }),
);

/**
 * The SQLite executor. Times travel as integer milliseconds, ids as text, lists as one JSON
 * parameter. On a synchronous connection (`querySync`), `attemptInsertMany` does all its work
 * before returning, and throws rather than rejects, so an enqueue inside better-sqlite3's
 * `db.transaction(() => …)` writes in that transaction and a failure rolls it back.
 */
export class SqliteExecutor implements Executor {
  readonly #connection: SqlConnection;
  readonly #statements: SqliteStatements;
  readonly #table: TableName;

  /** @throws ConfigError for a `schema.name` table (see {@link checkTable}). */
  constructor(connection: SqlConnection, table: TableName) {
    this.#connection = connection;
    this.#table = table;
    this.#statements = bindStatements(table);
  }

  async attemptClaim(params: AttemptClaimParams): Promise<AttemptClaimResult> {
    const result = await this.#query('attemptClaim', [
      params.lockedBy,
      params.limit,
      params.leaseMs,
      params.horizon === null ? null : params.horizon.getTime(),
      params.queues === null ? null : JSON.stringify(params.queues),
    ]);
    const first = result.rows[0];
    return {
      records: result.rows.map(toRecord).sort(claimOrder),
      now: first ? toDate(first['db_now']) : new Date(),
    };
  }

  async attemptCompleteMany(
    lockedBy: string,
    completions: readonly AttemptCompletion[],
  ): Promise<string[]> {
    if (completions.length === 0) return [];
    const result = await this.#query('attemptCompleteMany', [
      lockedBy,
      JSON.stringify(
        completions.map((c) => ({
          id: c.id,
          numAttempts: c.numAttempts,
          status: c.status,
          delayMs: Math.round(c.delayMs),
          error: c.error,
        })),
      ),
    ]);
    return result.rows.map(idOf);
  }

  async attemptExtendLeases(
    lockedBy: string,
    leases: readonly LeaseRef[],
    leaseMs: number,
  ): Promise<string[]> {
    if (leases.length === 0) return [];
    const result = await this.#query('attemptExtendLeases', [
      lockedBy,
      leasesJson(leases),
      leaseMs,
    ]);
    return result.rows.map(idOf);
  }

  async attemptGet(id: string): Promise<AttemptRecord | null> {
    const result = await this.#query('attemptGet', [id]);
    const row = result.rows[0];
    return row ? toRecord(row) : null;
  }

  // Not `async`: on a synchronous connection the INSERT must happen, and fail, before returning.
  attemptInsertMany(rows: readonly AttemptInsertParams[]): Promise<AttemptInsertResult[]> {
    if (rows.length === 0) return Promise.resolve([]);
    const params = [insertJson(rows)];
    if (this.#connection.querySync) {
      const inserted = this.#querySync('attemptInsertMany', params).rows.map(toRecord);
      const missing = missingTokens(rows, inserted);
      const existing =
        missing.length === 0
          ? []
          : this.#querySync('attemptGetByTokens', [tokensJson(missing)]).rows.map(toRecord);
      return Promise.resolve(matchInserted(rows, inserted, existing));
    }
    return this.#insertManyAsync(rows, params);
  }

  async attemptList(params: AttemptListParams): Promise<AttemptRecord[]> {
    const result = await this.#query('attemptList', [
      params.status,
      params.target,
      params.methodName,
      params.queue,
      params.beforeId,
      params.limit,
    ]);
    return result.rows.map(toRecord);
  }

  async attemptPrune(before: Date, limit: number): Promise<number> {
    const result = await this.#query('attemptPrune', [before.getTime(), limit]);
    return result.rowCount;
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
      await this.#query('attemptPruneWindowEnd', [
        params.afterId,
        params.limit,
        shortestRetentionMs(params.retention),
      ])
    ).rows[0];
    if (!end) return { locked: true, deleted: 0, lastId: null, done: true };
    const lastId = idOf(end);
    const deleted = await this.#query('attemptPruneWindowDelete', [
      params.afterId,
      lastId,
      succeededMs,
      failedMs,
      expiredMs,
    ]);
    return { locked: true, deleted: deleted.rowCount, lastId, done: Number(end['recent']) === 1 };
  }

  async attemptReleaseMany(lockedBy: string, leases: readonly LeaseRef[]): Promise<string[]> {
    if (leases.length === 0) return [];
    const result = await this.#query('attemptReleaseMany', [lockedBy, leasesJson(leases)]);
    return result.rows.map(idOf);
  }

  async attemptRescueExpired(limit: number): Promise<AttemptRecord[]> {
    const result = await this.#query('attemptRescueExpired', [limit]);
    return result.rows.map(toRecord);
  }

  async attemptSetFinalIfPending(
    id: string,
    status: 'expired' | 'failed',
  ): Promise<AttemptRecord | null> {
    const result = await this.#query('attemptSetFinalIfPending', [id, status]);
    const row = result.rows[0];
    return row ? toRecord(row) : null;
  }

  async attemptSetPendingIfFinished(id: string): Promise<AttemptRecord | null> {
    const result = await this.#query('attemptSetPendingIfFinished', [id]);
    const row = result.rows[0];
    return row ? toRecord(row) : null;
  }

  /**
   * Tables spanning up to {@link exactStatsIds} ids are counted exactly (one scan). Larger ones
   * count every status but succeeded exactly through their partial indexes, and estimate
   * succeeded from a sample of id ranges (see {@link idSample}).
   */
  async attemptStats(): Promise<AttemptStatsRow[]> {
    const size = (await this.#query('attemptStatsSize', [])).rows[0];
    const minId = size?.['min_id'];
    const maxId = size?.['max_id'];
    if (
      typeof minId !== 'string' ||
      typeof maxId !== 'string' ||
      BigInt(maxId) - BigInt(minId) < exactStatsIds
    ) {
      return exactStats((await this.#query('attemptStats', [])).rows);
    }
    return statsByIdSample(
      BigInt(minId),
      BigInt(maxId),
      async (ranges) => (await this.#query('attemptStatsEstimated', [ranges])).rows,
    );
  }

  async #insertManyAsync(
    rows: readonly AttemptInsertParams[],
    params: readonly unknown[],
  ): Promise<AttemptInsertResult[]> {
    const inserted = (await this.#query('attemptInsertMany', params)).rows.map(toRecord);
    const missing = missingTokens(rows, inserted);
    const existing =
      missing.length === 0
        ? []
        : (await this.#query('attemptGetByTokens', [tokensJson(missing)])).rows.map(toRecord);
    return matchInserted(rows, inserted, existing);
  }

  async #query(name: StatementName, params: readonly unknown[]): Promise<SqlResult> {
    try {
      return await this.#connection.query(this.#statements[name], params);
    } catch (error) {
      throw translateError(error, this.#table);
    }
  }

  #querySync(name: StatementName, params: readonly unknown[]): SqlResult {
    try {
      return this.#connection.querySync!(this.#statements[name], params);
    } catch (error) {
      throw translateError(error, this.#table);
    }
  }
}

/** SQLite says `no such table: <name>` when migrate() has not run. */
export function translateError(error: unknown, table: TableName): unknown {
  const cause = error instanceof AsyncTaskError ? error.cause : error;
  if (isMissingTable(cause)) {
    return new SchemaOutdatedError(
      `table ${quoteTable(table)} does not exist; run \`await tasks.migrate()\` (or \`async-task migrate\`) first`,
    );
  }
  return error;
}

export function isMissingTable(error: unknown): boolean {
  return error instanceof Error && /\bno such table\b/i.test(error.message);
}

function insertJson(rows: readonly AttemptInsertParams[]): string {
  return JSON.stringify(
    rows.map((r) => ({
      target: r.target,
      methodName: r.methodName,
      methodArgs: r.methodArgs,
      encryptor: r.encryptor,
      maxAttempts: r.maxAttempts,
      queue: r.queue,
      priority: r.priority,
      idempotenceToken: r.idempotenceToken,
      scheduledAt: r.scheduledAt === null ? null : r.scheduledAt.getTime(),
    })),
  );
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

function leasesJson(leases: readonly LeaseRef[]): string {
  return JSON.stringify(leases.map((l) => ({ id: l.id, numAttempts: l.numAttempts })));
}

/** Rows with a token that the insert did not return: someone (maybe this batch) holds it. */
function missingTokens(
  rows: readonly AttemptInsertParams[],
  inserted: readonly AttemptRecord[],
): AttemptInsertParams[] {
  const won = new Set(inserted.filter((r) => r.idempotenceToken !== null).map(tokenKey));
  return rows.filter((r) => r.idempotenceToken !== null && !won.has(tokenKey(r)));
}

/**
 * Results in input order: rows without a token take the inserted plain rows in id order (the
 * insert follows array order); the first row with a token that this insert won is `inserted`,
 * later rows with the same token (in the batch) and rows whose token was already taken map to
 * that row with `inserted: false`.
 */
function matchInserted(
  rows: readonly AttemptInsertParams[],
  inserted: AttemptRecord[],
  existingRecords: readonly AttemptRecord[],
): AttemptInsertResult[] {
  const byToken = new Map<string, AttemptRecord>();
  const plain: AttemptRecord[] = [];
  for (const record of inserted.sort(byId)) {
    if (record.idempotenceToken === null) plain.push(record);
    else byToken.set(tokenKey(record), record);
  }
  const existing = new Map(existingRecords.map((record) => [tokenKey(record), record]));
  const claimed = new Set<string>();
  let nextPlain = 0;
  return rows.map((row) => {
    if (row.idempotenceToken === null) {
      const record = plain[nextPlain++];
      if (!record) throw new AsyncTaskError('DATABASE', 'insert returned fewer rows than sent');
      return { record, inserted: true };
    }
    const key = tokenKey(row);
    const fresh = byToken.get(key);
    if (fresh && !claimed.has(key)) {
      claimed.add(key);
      return { record: fresh, inserted: true };
    }
    const record = fresh ?? existing.get(key);
    if (!record) {
      // The conflicting row was deleted between our insert and our read (pruned, by a connection
      // outside this transaction): rare enough that the caller's retry is the right answer.
      throw new AsyncTaskError(
        'DATABASE',
        `the attempt holding idempotence token ${JSON.stringify(row.idempotenceToken)} vanished while enqueueing; retry the transaction`,
      );
    }
    return { record, inserted: false };
  });
}

function tokenKey(r: {
  target: string;
  methodName: string;
  idempotenceToken: string | null;
}): string {
  return `${r.target}\u0000${r.methodName}\u0000${r.idempotenceToken}`;
}

function byId(a: AttemptRecord, b: AttemptRecord): number {
  return a.id.length - b.id.length || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function claimOrder(a: AttemptRecord, b: AttemptRecord): number {
  return a.priority - b.priority || a.scheduledAt.getTime() - b.scheduledAt.getTime() || byId(a, b);
}

function idOf(row: Record<string, unknown>): string {
  return String(row['id']);
}

/** INTEGER milliseconds (a number, or a bigint from a client in safe-integers mode) to a Date. */
function toDate(value: unknown): Date {
  return new Date(Number(value));
}

function toDateOrNull(value: unknown): Date | null {
  return value === null || value === undefined ? null : toDate(value);
}

function toRecord(row: Record<string, unknown>): AttemptRecord {
  return {
    id: String(row['id']),
    target: row['target'] as string,
    methodName: row['method_name'] as string,
    methodArgs: row['method_args'] as string | null,
    encryptor: row['encryptor'] as string | null,
    status: row['status'] as AttemptStatus,
    numAttempts: Number(row['num_attempts']),
    maxAttempts: Number(row['max_attempts']),
    queue: row['queue'] as string,
    priority: Number(row['priority']),
    idempotenceToken: row['idempotence_token'] as string | null,
    scheduledAt: toDate(row['scheduled_at']),
    completedAt: toDateOrNull(row['completed_at']),
    lockedBy: row['locked_by'] as string | null,
    lockedUntil: toDateOrNull(row['locked_until']),
    lastError: row['last_error'] as string | null,
    createdAt: toDate(row['created_at']),
    updatedAt: toDate(row['updated_at']),
  };
}
