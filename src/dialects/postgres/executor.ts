import { createHash } from 'node:crypto';
import type { AttemptRecord } from '../../core/attempt.js';
import type { QueueFlow } from '../../core/flow.js';
import { shortestRetentionMs } from '../../core/retention.js';
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
  WorkerBeatParams,
} from '../../seam/executor.js';
import type { SqlConnection } from '../../seam/sql-connection.js';
import { claimOrder, compareIds, recordMapper, tokenKey } from '../attempt-rows.js';
import { ClaimedValues } from '../claimed-values.js';
import { insertRowsJson } from '../insert-json.js';
import { claimedRecord } from './claimed-record.js';
import { estimatedStats, exactStats, isSparseSample, splitSampled } from '../estimated-stats.js';
import { matchInserted, missingTokens, replacingRows, splitInserted } from '../match-inserted.js';
import { readRateWindow } from '../rate-wait.js';
import { ReturningExecutor, type ReturningDialect } from '../returning-executor.js';
import { statementBinder, type BoundStatement } from '../statements.js';
import * as dashboardQueries from './dashboard-queries.js';
import * as queries from './queries.js';
import * as runQueries from './run-queries.js';
import * as workerQueries from './worker-queries.js';
import { workerBeatValues } from '../worker-rows.js';

const statements = { ...queries, ...workerQueries, ...dashboardQueries, ...runQueries };
type StatementName = keyof typeof statements;

/**
 * Tables up to this many pages (16 MB, about 100,000 attempts) are counted exactly by stats():
 * one scan of them takes 20 to 40 ms, about what the estimate costs.
 */
const exactStatsPages = 2048;

/** Pages stats() samples to split a large table's succeeded attempts across queues. */
const samplePages = 300;
export type PostgresStatements = Readonly<Record<StatementName, BoundStatement>>;

export function quoteTable(table: TableName): string {
  return table.schema === null ? `"${table.name}"` : `"${table.schema}"."${table.name}"`;
}

/** Channel names are identifiers (63 bytes at most): derive a short, stable one per table. */
export function notifyChannel(table: TableName): string {
  return `async_task_${createHash('sha1').update(quoteTable(table)).digest('hex').slice(0, 16)}`;
}

/**
 * Statements sent unprepared, so planned at every run with the table's size of the moment. Their
 * best plan depends on that size: a join of a batch's ids (or idempotence tokens) to the table
 * through its index, or a read of the lease index, once the table is large; a hash of the whole
 * table, or a scan and a sort, while it is small. A prepared statement's generic plan, which
 * PostgreSQL makes once and keeps until an ANALYZE or VACUUM of the table, kept the small
 * table's: a worker that started on a new table hashed the whole table for every completion as
 * the table grew (up to 277 ms a completion within 40 s of a steady stream, whose throughput fell
 * by two thirds), and with autovacuum off nothing ever replaced that plan. A plan costs about
 * 0.15 ms, once per batch (test/integration/postgres-plans-after-growth.test.ts).
 */
const plannedEachRun: readonly StatementName[] = [
  'attemptCompleteMany',
  'attemptCompleteUnsucceededMany',
  'attemptExtendLeases',
  'attemptReleaseMany',
  'attemptListCancelRequested',
  'attemptTraceContexts',
  'attemptRescueExpired',
  'attemptGetByTokens',
];

/** Fills the table name (and its notification channel) into every statement, once per table. */
export const bindStatements: (table: TableName) => PostgresStatements = statementBinder(
  'async_task_',
  statements,
  (table) => ({
    '{{table}}': quoteTable(table),
    '{{workers}}': quoteTable({ schema: table.schema, name: `${table.name}_workers` }),
    '{{claimDue}}': quoteTable({ schema: table.schema, name: `${table.name}_claim_due` }),
    '{{claimLimited}}': quoteTable({ schema: table.schema, name: `${table.name}_claim_limited` }),
    '{{claimQueues}}': quoteTable({ schema: table.schema, name: `${table.name}_claim_queues` }),
    '{{starts}}': quoteTable({ schema: table.schema, name: `${table.name}_starts` }),
    '{{channel}}': notifyChannel(table),
  }),
  undefined,
  plannedEachRun,
);

/**
 * SQLSTATE 42P01 (undefined_table) means migrate() has not run: on the client's error, or on the
 * one a driver's DatabaseError wraps.
 */
export function isMissingTable(error: unknown): boolean {
  const codeOf = (value: unknown): unknown => (value as { code?: unknown } | undefined)?.code;
  return (
    codeOf(error) === '42P01' ||
    codeOf((error as { cause?: unknown } | undefined)?.cause) === '42P01'
  );
}

/** node-postgres and postgres.js return ids as text and the epoch-millisecond floats as numbers. */
const toRecord = recordMapper({
  id: (value) => value as string,
  number: (value) => value as number,
  date: (value) => new Date(value as number),
});

const postgres: ReturningDialect<StatementName> = {
  bindStatements,
  quoteTable,
  isMissingTable,
  toRecord,
  idOf: (row) => row['id'] as string,
  leasesJson: (leases) =>
    JSON.stringify(leases.map((l) => ({ id: l.id, num_attempts: l.numAttempts }))),
  completionsJson: (completions) =>
    JSON.stringify(
      completions.map((c) => ({
        id: c.id,
        num_attempts: c.numAttempts,
        status: c.status,
        delay_ms: c.delayMs,
        error: c.error,
      })),
    ),
  unsucceededJson: (completions) =>
    JSON.stringify(
      completions.map((c) => ({
        id: c.id,
        num_attempts: c.numAttempts,
        status: c.status,
        delay_ms: c.delayMs,
        error: c.error,
        started_at_ms: c.startedAtMs ?? null,
        ended_at_ms: c.endedAtMs ?? null,
      })),
    ),
};

export class PostgresExecutor extends ReturningExecutor<StatementName> implements Executor {
  constructor(connection: SqlConnection, table: TableName) {
    super(connection, table, postgres);
  }

  async attemptClaim(params: AttemptClaimParams): Promise<AttemptClaimResult> {
    const except = params.queues === null ? (params.exceptQueues ?? []) : [];
    const { lockedBy, limit, leaseMs, horizon, durable } = params;
    const result =
      params.queues === null && except.length === 0
        ? await this.query('attemptClaim', [lockedBy, limit, leaseMs, horizon, durable])
        : await this.query('attemptClaimQueues', [
            lockedBy,
            limit,
            leaseMs,
            horizon,
            params.queues,
            params.queues === null ? except : null,
            durable,
          ]);
    return this.#claimed(result.rows, params);
  }

  async attemptClaimLimited(params: AttemptClaimLimitedParams): Promise<AttemptClaimResult> {
    const { flow } = params;
    const result = await this.query('attemptClaimLimited', [
      params.lockedBy,
      params.limit,
      params.leaseMs,
      params.horizon,
      flow.queue,
      flow.concurrency,
      flow.keyConcurrency,
      flow.fair,
      flow.rateLimit?.limit ?? null,
      flow.rateLimit?.periodMs ?? null,
      flow.rateLimit?.perKey ?? null,
      params.durable,
    ]);
    if (result.rows.length > 0)
      return { ...(await this.#claimed(result.rows, params)), exhausted: false };
    const due = await this.query('attemptQueueHasDue', [flow.queue, params.horizon]);
    return { records: [], now: new Date(), exhausted: due.rows.length === 0 };
  }

  flowRateWindow(flow: QueueFlow): Promise<RateWindow> {
    return readRateWindow(flow, (params) => this.query('flowRateWindow', params));
  }

  async #claimed(
    claimedRows: readonly Record<string, unknown>[],
    params: {
      readonly lockedBy: string;
      readonly leaseMs: number;
      readonly traceContext?: boolean;
    },
  ): Promise<AttemptClaimResult> {
    const first = claimedRows[0];
    if (!first) return { records: [], now: new Date() };
    const rows = params.traceContext === true ? await this.#traced(claimedRows) : claimedRows;
    const nowMs = first['db_now'] as number;
    const shared = new ClaimedValues();
    const lockedUntil = shared.date(nowMs + params.leaseMs);
    const lease = { lockedBy: params.lockedBy, lockedUntil, updatedAt: shared.date(nowMs) };
    return {
      records: rows.map((row) => claimedRecord(row, shared, lease)).sort(claimOrder),
      now: new Date(nowMs),
    };
  }

  /** The rows with each attempt's trace_context, read once the claim has committed. */
  async #traced(rows: readonly Record<string, unknown>[]): Promise<Record<string, unknown>[]> {
    const ids = rows.map((row) => String(row['id']));
    const found = await this.query('attemptTraceContexts', [ids]);
    const contexts = new Map(found.rows.map((row) => [String(row['id']), row['trace_context']]));
    return rows.map((row) => ({ ...row, trace_context: contexts.get(String(row['id'])) ?? null }));
  }

  async attemptInsertMany(rows: readonly AttemptInsertParams[]): Promise<AttemptInsertResult[]> {
    if (rows.length === 0) return [];
    const inserted = await this.query('attemptInsertMany', [insertRowsJson(rows)]);
    // The insert returns only what the database chose; the rest is what we sent. Rows that lost
    // an idempotence conflict are read whole afterwards.
    const returned = inserted.rows;
    if (returned.length === rows.length && rows.every((r) => r.idempotenceToken === null)) {
      // Identity values follow the ORDER BY ord of the insert, so id order is input order.
      const ordered = [...returned].sort(byIdRow);
      return rows.map((row, index) => ({
        record: insertedRecord(row, ordered[index]!),
        inserted: true,
      }));
    }
    return this.#matchInserted(rows, returned);
  }

  /** One statement: the upsert and, in a CTE, the delete of workers dead for over an hour. */
  override async workerBeat(params: WorkerBeatParams): Promise<void> {
    await this.query('workerBeat', workerBeatValues(params));
  }

  async attemptShiftScheduled(ms: number): Promise<number> {
    const result = await this.query('attemptShiftScheduled', [ms]);
    return result.rowCount;
  }

  async attemptPrune(params: AttemptPruneParams): Promise<AttemptPruneResult> {
    const { before, afterId, limit } = params;
    const row = (await this.query('attemptPrune', [before, limit, afterId])).rows[0] ?? {};
    return {
      deleted: Number(row['deleted'] ?? 0),
      nextAfterId: Number(row['found'] ?? 0) < limit ? null : (row['last_id'] as string),
    };
  }

  async attemptPruneWindow(params: AttemptPruneWindowParams): Promise<AttemptPruneWindowResult> {
    const { succeededMs, failedMs, expiredMs } = params.retention;
    const result = await this.query('attemptPruneWindow', [
      params.afterId,
      params.limit,
      succeededMs,
      failedMs,
      expiredMs,
      shortestRetentionMs(params.retention),
    ]);
    const row = result.rows[0] ?? {};
    return {
      locked: row['locked'] === true,
      deleted: Number(row['deleted'] ?? 0),
      lastId: (row['last_id'] as string | null | undefined) ?? null,
      done: row['done'] !== false,
    };
  }

  /**
   * Small tables are counted exactly (a scan of under {@link exactStatsPages} pages). Larger ones
   * count every status but succeeded exactly through their partial indexes, and estimate
   * succeeded: the table's row estimate less those exact counts, split across queues as in a
   * sample of about {@link samplePages} pages. The row estimate is the planner's (reltuples per
   * page, times the pages there are now); before the first VACUUM or ANALYZE, the sample's. A
   * sample that finds the file mostly empty (a pruned backlog) falls back to the exact count.
   */
  async attemptStats(): Promise<AttemptStatsRow[]> {
    const size = (await this.query('attemptStatsSize', [])).rows[0];
    const pages = Number(size?.['pages'] ?? 0);
    if (pages <= exactStatsPages) {
      return exactStats((await this.query('attemptStats', [])).rows);
    }
    const percent = Math.min(100, (100 * samplePages) / pages);
    const result = await this.query('attemptStatsEstimated', [percent]);
    const { exact, sample } = splitSampled(result.rows);
    // A dense page holds a hundred attempts or so.
    if (isSparseSample(sample, samplePages * 100)) {
      return exactStats((await this.query('attemptStats', [])).rows);
    }
    const reltuples = Number(size?.['reltuples'] ?? -1);
    const relpages = Number(size?.['relpages'] ?? 0);
    const sampled = sample.reduce((sum, row) => sum + row.count, 0);
    const fromSample = (sampled * 100) / percent;
    const fromPlanner = reltuples >= 0 && relpages > 0 ? (reltuples / relpages) * pages : -1;
    // The planner's density is the last ANALYZE's: a prune since (without autovacuum, until the
    // next one) left it counting rows long gone, 50 times too many at 2 % kept. The sample's own
    // density is current; a fall to under half of the planner's says which to believe.
    const total = fromPlanner < 0 || fromSample < fromPlanner / 2 ? fromSample : fromPlanner;
    const others = exact.reduce((sum, row) => sum + row.count, 0);
    return estimatedStats(exact, sample, total - others);
  }

  async #matchInserted(
    rows: readonly AttemptInsertParams[],
    returned: readonly Record<string, unknown>[],
  ): Promise<AttemptInsertResult[]> {
    const inserted = splitInserted([...returned].sort(byIdRow), returnedTokenKey);
    const replacing = replacingRows(rows, inserted);
    const replaced = new Map(
      replacing.length === 0
        ? []
        : (await this.query('attemptReplacePending', [insertRowsJson(replacing)])).rows
            .map(toRecord)
            .map((record) => [tokenKey(record), record] as const),
    );
    const missing = missingTokens(rows, inserted, replaced);
    const existing =
      missing.length === 0
        ? []
        : (
            await this.query('attemptGetByTokens', [
              missing.map((r) => r.target),
              missing.map((r) => r.methodName),
              missing.map((r) => r.idempotenceToken),
            ])
          ).rows.map(toRecord);
    // The first row of a batch with a given token is the one inserted (ORDER BY ord); later
    // duplicates within the batch get the same record, as not inserted.
    return matchInserted(
      rows,
      inserted,
      existing,
      insertedRecord,
      'the insert returned fewer rows than it was sent',
      replaced,
    );
  }
}

function byIdRow(a: Record<string, unknown>, b: Record<string, unknown>): number {
  return compareIds(a['id'] as string, b['id'] as string);
}

/** The token key of a row the insert returned, or null for a row without a token. */
function returnedTokenKey(row: Record<string, unknown>): string | null {
  const idempotenceToken = row['idempotence_token'] as string | null;
  if (idempotenceToken === null) return null;
  return tokenKey({
    target: row['target'] as string,
    methodName: row['method_name'] as string,
    idempotenceToken,
  });
}

/** A freshly inserted row: what we sent, plus the id and times the database chose. */
function insertedRecord(params: AttemptInsertParams, row: Record<string, unknown>): AttemptRecord {
  const createdAt = new Date(row['created_at'] as number);
  return {
    id: row['id'] as string,
    target: params.target,
    methodName: params.methodName,
    methodArgs: params.methodArgs,
    encryptor: params.encryptor,
    status: 'pending',
    numAttempts: 0,
    maxAttempts: params.maxAttempts,
    queue: params.queue,
    priority: params.priority,
    idempotenceToken: params.idempotenceToken,
    scheduledAt: new Date(row['scheduled_at'] as number),
    completedAt: null,
    lockedBy: null,
    lockedUntil: null,
    lastError: null,
    progress: null,
    progressMessage: null,
    createdAt,
    updatedAt: createdAt,
    traceContext: params.traceContext ?? null,
  };
}
