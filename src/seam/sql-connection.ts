/**
 * A statement a dialect sends: `text` with positional parameters, and a `name` unique to that
 * text, which drivers may use to prepare it once per connection; '' asks that it be sent
 * unprepared, so that the database plans it at every run. Placeholders are `$1…` on PostgreSQL
 * and plain `?` (parameters in order) on MySQL and SQLite.
 */
export interface Statement {
  readonly name: string;
  readonly text: string;
  /**
   * Whether it returns rows (a SELECT, or a write with RETURNING): clients that run the two kinds
   * through different calls (Prisma's `$queryRaw`/`$executeRaw`) choose by it, never by the text.
   */
  readonly returnsRows: boolean;
}

export interface SqlResult {
  readonly rows: readonly Record<string, unknown>[];
  readonly rowCount: number;
}

export interface TransactionOptions {
  /**
   * `'read committed'`: every statement sees what was committed before it started (MySQL's
   * locking reads then lock only the rows they return). Absent: the connection's default. SQLite
   * ignores it (its transactions are serializable).
   */
  readonly isolation?: 'read committed';
}

/**
 * The one thing a driver gives a dialect: run statements on a connection or transaction the
 * driver chose. Drivers translate their client's errors into `DatabaseError` (with `cause`).
 */
export interface SqlConnection {
  query(statement: Statement, params: readonly unknown[]): Promise<SqlResult>;
  /** Present on synchronous clients (better-sqlite3): the same, without a promise. */
  querySync?(statement: Statement, params: readonly unknown[]): SqlResult;
  /**
   * With `querySync`: whether the connection is inside a transaction right now. Also true on a
   * connection that is always inside one and opens none of its own (Prisma's interactive `tx`).
   */
  inTransaction?(): boolean;
  /**
   * Runs `fn` in a new transaction on this connection: committed when `fn` returns, rolled back
   * when it throws (its error passes through as it is). Only on connections outside any
   * transaction (`Driver.run`, `Driver.session`). On SQLite the transaction takes the write lock
   * when it begins (BEGIN IMMEDIATE), since every transaction async-task opens writes.
   */
  transaction<T>(
    fn: (connection: SqlConnection) => Promise<T>,
    options?: TransactionOptions,
  ): Promise<T>;
}
