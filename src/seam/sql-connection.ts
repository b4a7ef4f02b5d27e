/**
 * A statement a dialect sends: `text` with positional parameters, and a `name` unique to that
 * text, which drivers may use to prepare it once per connection.
 */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

export interface SqlResult {
  readonly rows: readonly Record<string, unknown>[];
  readonly rowCount: number;
}

/**
 * The one thing a driver gives a dialect: run a statement on a connection or transaction the
 * driver chose. Drivers translate their client's errors into `DatabaseError` (with `cause`).
 */
export interface SqlConnection {
  query(statement: Statement, params: readonly unknown[]): Promise<SqlResult>;
  /** Present on synchronous clients (better-sqlite3): the same, without a promise. */
  querySync?(statement: Statement, params: readonly unknown[]): SqlResult;
  /** With `querySync`: whether the connection is inside a transaction right now. */
  inTransaction?(): boolean;
}
