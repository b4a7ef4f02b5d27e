import type { TableName } from '../seam/driver.js';
import type { WorkerInfo } from '../core/worker-info.js';
import type {
  AttemptOutcomesRow,
  AttemptProgressParams,
  StartCount,
  WorkerBeatParams,
} from '../seam/executor.js';
import type { SqlConnection, SqlResult } from '../seam/sql-connection.js';
import { translateMissingTable } from './dialect-errors.js';
import { outcomeRows } from './outcome-rows.js';
import { paramsFor, type BoundStatement } from './statements.js';
import { toWorkerInfo, workerBeatValues } from './worker-rows.js';

/** What a dialect tells its executor besides the statements. */
export interface ExecutorDialect<Name extends string> {
  readonly bindStatements: (table: TableName) => Readonly<Record<Name, BoundStatement>>;
  readonly quoteTable: (table: TableName) => string;
  /** Whether a client error (possibly wrapped in a DatabaseError) says the table is missing. */
  readonly isMissingTable: (error: unknown) => boolean;
}

/**
 * What every dialect's executor shares: its statements, bound to one table once, run on one
 * connection with their parameters in placeholder order, and a missing table reported as
 * "run migrate() first" (a SchemaOutdatedError).
 */
export abstract class SqlExecutor<Name extends string> {
  protected readonly connection: SqlConnection;
  protected readonly table: TableName;
  protected readonly statements: Readonly<Record<Name, BoundStatement>>;
  readonly #dialect: ExecutorDialect<Name>;

  protected constructor(
    connection: SqlConnection,
    table: TableName,
    dialect: ExecutorDialect<Name>,
  ) {
    this.connection = connection;
    this.table = table;
    this.#dialect = dialect;
    this.statements = dialect.bindStatements(table);
  }

  /**
   * The dashboard's chart data. Every dialect has this statement, without parameters, and its
   * rows have the same columns.
   */
  async attemptOutcomesLastHour(
    this: SqlExecutor<Name | 'attemptOutcomesLastHour'>,
  ): Promise<AttemptOutcomesRow[]> {
    return outcomeRows((await this.query('attemptOutcomesLastHour', [])).rows);
  }

  /** Every dialect has this statement, with its parameters in this order. */
  async attemptSetProgress(
    this: SqlExecutor<Name | 'attemptSetProgress'>,
    params: AttemptProgressParams,
  ): Promise<void> {
    await this.query('attemptSetProgress', [
      params.progress,
      params.message,
      params.id,
      params.lockedBy,
      params.numAttempts,
    ]);
  }

  /**
   * The worker registry's beat where it takes two statements (no writable CTE): the upsert, then
   * the delete of workers dead for over an hour.
   */
  async workerBeat(
    this: SqlExecutor<Name | 'workerUpsert' | 'workerDeleteDead'>,
    params: WorkerBeatParams,
  ): Promise<void> {
    await this.query('workerUpsert', workerBeatValues(params));
    await this.query('workerDeleteDead', []);
  }

  /** Every dialect has these statements, with these parameters. */
  async workerDelete(this: SqlExecutor<Name | 'workerDelete'>, id: string): Promise<void> {
    await this.query('workerDelete', [id]);
  }

  async workerListAlive(this: SqlExecutor<Name | 'workerListAlive'>): Promise<WorkerInfo[]> {
    return (await this.query('workerListAlive', [])).rows.map(toWorkerInfo);
  }

  /** Every dialect has this statement: one row, the database's clock in epoch milliseconds. */
  async databaseNow(this: SqlExecutor<Name | 'databaseNow'>): Promise<Date> {
    const row = (await this.query('databaseNow', [])).rows[0];
    return new Date(Number(row?.['now_ms']));
  }

  /** Every dialect has this statement, with these parameters and columns. */
  async startCount(
    this: SqlExecutor<Name | 'startCount'>,
    queue: string,
    periodMs: number,
  ): Promise<StartCount> {
    const row = (await this.query('startCount', [queue, periodMs])).rows[0];
    if (!row) return { started: 0, busiestKey: null };
    return {
      started: Number(row['total']),
      busiestKey: {
        key: (row['concurrency_key'] ?? null) as string | null,
        started: Number(row['started']),
      },
    };
  }

  protected query(name: Name, params: readonly unknown[]): Promise<SqlResult> {
    return this.run(this.statements[name], params);
  }

  protected async run(statement: BoundStatement, params: readonly unknown[]): Promise<SqlResult> {
    try {
      return await this.connection.query(statement, paramsFor(statement, params));
    } catch (error) {
      throw this.translate(error);
    }
  }

  /** The same on a synchronous connection (one with `querySync`): throws rather than rejects. */
  protected querySync(name: Name, params: readonly unknown[]): SqlResult {
    const statement = this.statements[name];
    try {
      return this.connection.querySync!(statement, paramsFor(statement, params));
    } catch (error) {
      throw this.translate(error);
    }
  }

  protected translate(error: unknown): unknown {
    const { isMissingTable, quoteTable } = this.#dialect;
    return translateMissingTable(error, isMissingTable, quoteTable(this.table));
  }
}
