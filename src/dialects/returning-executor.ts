import type { AttemptRecord } from '../core/attempt.js';
import type { SqlConnection } from '../seam/sql-connection.js';
import type { TableName } from '../seam/driver.js';
import type {
  AttemptCompletion,
  AttemptListParams,
  AttemptTokenRangeParams,
  LeaseRef,
  WrittenIds,
} from '../seam/executor.js';
import { writtenIds } from '../seam/executor.js';
import { splitCompletions } from './completions.js';
import { SqlExecutor, type ExecutorDialect } from './sql-executor.js';

/** The statements whose parameters and results are the same on every dialect with RETURNING. */
export type ReturningStatementName =
  | 'attemptCancel'
  | 'attemptCompleteMany'
  | 'attemptCompleteUnsucceededMany'
  | 'attemptExtendLeases'
  | 'attemptGet'
  | 'attemptGetLastInTokenRange'
  | 'attemptList'
  | 'attemptListCancelRequested'
  | 'attemptReleaseMany'
  | 'attemptRescueExpired'
  | 'attemptSetFinalIfPending'
  | 'attemptSetPendingIfFinished';

/**
 * What a dialect with RETURNING adds: how it reads rows, and how it sends lists of leases and of
 * completions (one JSON parameter each, with the field names its SQL reads).
 */
export interface ReturningDialect<Name extends string> extends ExecutorDialect<Name> {
  readonly toRecord: (row: Record<string, unknown>) => AttemptRecord;
  readonly idOf: (row: Record<string, unknown>) => string;
  /** The leases as the one JSON parameter the fenced writes read. */
  readonly leasesJson: (leases: readonly LeaseRef[]) => string;
  readonly completionsJson: (completions: readonly AttemptCompletion[]) => string;
  /** Completions other than succeeded, with their runs' times, for the run history. */
  readonly unsucceededJson: (completions: readonly AttemptCompletion[]) => string;
}

/**
 * The executor methods of the dialects whose writes return the rows they wrote (PostgreSQL,
 * SQLite): each one statement, whose rows are the answer. What else differs stays in each
 * dialect's executor.
 */
export abstract class ReturningExecutor<Name extends string> extends SqlExecutor<
  Name | ReturningStatementName
> {
  protected readonly toRecord: (row: Record<string, unknown>) => AttemptRecord;
  readonly #rows: ReturningDialect<Name | ReturningStatementName>;

  protected constructor(
    connection: SqlConnection,
    table: TableName,
    dialect: ReturningDialect<Name | ReturningStatementName>,
  ) {
    super(connection, table, dialect);
    this.#rows = dialect;
    this.toRecord = dialect.toRecord;
  }

  async attemptCancel(id: string): Promise<AttemptRecord | null> {
    return this.#recordOrNull('attemptCancel', [id]);
  }

  /**
   * Fenced by lease and attempt count; returns the ids it wrote. Successes go through their own
   * statement, with the parameters they always had; the rest, which add to the run history,
   * through another (see {@link splitCompletions}).
   */
  async attemptCompleteMany(
    lockedBy: string,
    completions: readonly AttemptCompletion[],
  ): Promise<WrittenIds> {
    const { succeeded, unsucceeded } = splitCompletions(completions);
    const written: string[] = [];
    // Rows return the status they got: `expired` where the completion said otherwise is a
    // cancel request's doing (the completion of an `expired` outcome is a cancel already).
    const cancelled: string[] = [];
    const expiredIds = new Set<string>();
    for (const completion of unsucceeded) {
      if (completion.status === 'expired') expiredIds.add(completion.id);
    }
    const collect = (rows: readonly Record<string, unknown>[]): void => {
      for (const row of rows) {
        const id = this.#rows.idOf(row);
        written.push(id);
        if (row['status'] === 'expired' && !expiredIds.has(id)) cancelled.push(id);
      }
    };
    if (succeeded.length > 0) {
      const result = await this.query('attemptCompleteMany', [
        lockedBy,
        this.#rows.completionsJson(succeeded),
      ]);
      collect(result.rows);
    }
    if (unsucceeded.length > 0) {
      const result = await this.query('attemptCompleteUnsucceededMany', [
        lockedBy,
        this.#rows.unsucceededJson(unsucceeded),
      ]);
      collect(result.rows);
    }
    return writtenIds(written, cancelled);
  }

  async attemptExtendLeases(
    lockedBy: string,
    leases: readonly LeaseRef[],
    leaseMs: number,
  ): Promise<string[]> {
    if (leases.length === 0) return [];
    const result = await this.query('attemptExtendLeases', [
      lockedBy,
      this.#rows.leasesJson(leases),
      leaseMs,
    ]);
    return result.rows.map(this.#rows.idOf);
  }

  async attemptGet(id: string): Promise<AttemptRecord | null> {
    return this.#recordOrNull('attemptGet', [id]);
  }

  async attemptGetLastInTokenRange(params: AttemptTokenRangeParams): Promise<AttemptRecord | null> {
    return this.#recordOrNull('attemptGetLastInTokenRange', [
      params.target,
      params.methodName,
      params.tokenFrom,
      params.tokenTo,
      params.tokenPrefix,
    ]);
  }

  async attemptList(params: AttemptListParams): Promise<AttemptRecord[]> {
    const result = await this.query('attemptList', [
      params.status,
      params.target,
      params.methodName,
      params.queue,
      params.beforeId,
      params.limit,
      params.idempotenceToken ?? null,
      params.afterId ?? null,
    ]);
    return result.rows.map(this.toRecord);
  }

  async attemptListCancelRequested(leases: readonly LeaseRef[]): Promise<string[]> {
    if (leases.length === 0) return [];
    const result = await this.query('attemptListCancelRequested', [this.#rows.leasesJson(leases)]);
    return result.rows.map(this.#rows.idOf);
  }

  async attemptReleaseMany(lockedBy: string, leases: readonly LeaseRef[]): Promise<string[]> {
    if (leases.length === 0) return [];
    const result = await this.query('attemptReleaseMany', [
      lockedBy,
      this.#rows.leasesJson(leases),
    ]);
    return result.rows.map(this.#rows.idOf);
  }

  async attemptRescueExpired(limit: number): Promise<AttemptRecord[]> {
    const result = await this.query('attemptRescueExpired', [limit]);
    return result.rows.map(this.toRecord);
  }

  async attemptSetFinalIfPending(
    id: string,
    status: 'expired' | 'failed',
  ): Promise<AttemptRecord | null> {
    return this.#recordOrNull('attemptSetFinalIfPending', [id, status]);
  }

  async attemptSetPendingIfFinished(id: string): Promise<AttemptRecord | null> {
    return this.#recordOrNull('attemptSetPendingIfFinished', [id]);
  }

  async #recordOrNull(
    name: ReturningStatementName,
    params: readonly unknown[],
  ): Promise<AttemptRecord | null> {
    const row = (await this.query(name, params)).rows[0];
    return row ? this.toRecord(row) : null;
  }
}
