import { ConfigError } from '../core/errors.js';
import type { Driver } from '../seam/driver.js';
import type { SqlConnection } from '../seam/sql-connection.js';
import { asDatabaseError, databaseError, separatingErrors } from './internal/client-errors.js';
import { runAndSession } from './internal/native-connections.js';
import { postgresJsConnections } from './internal/postgres-js-connections.js';

/** What `unsafe(…).describe()` resolves to: the part async-task reads. */
export interface PostgresJsStatementDescription {
  /** The OIDs of the statement's parameters, as the server declared them. */
  readonly types: readonly number[];
}

/** What a postgres.js query resolves to: the rows, with the affected-row count beside them. */
export type PostgresJsRowList = readonly Record<string, unknown>[] & {
  readonly count: number | null;
};

/** A pending postgres.js query: a promise of rows that can also describe itself. */
export interface PostgresJsPendingQuery extends PromiseLike<PostgresJsRowList> {
  describe(): PromiseLike<PostgresJsStatementDescription>;
}

/**
 * The part of postgres.js's `Sql` and `TransactionSql` (the `sql` of `sql.begin(sql => …)`)
 * async-task uses: `enqueue` accepts either.
 */
export interface PostgresJsQueryable {
  unsafe(
    query: string,
    parameters?: unknown[],
    queryOptions?: { prepare?: boolean | undefined },
  ): PostgresJsPendingQuery;
}

/** The part of postgres.js's `TransactionSql` async-task uses: what `ctx.transaction` hands over. */
export interface PostgresJsTransactionSql extends PostgresJsQueryable {
  savepoint(fn: (sql: PostgresJsTransactionSql) => Promise<unknown>): Promise<unknown>;
}

/** The part of postgres.js's `ReservedSql` (`await sql.reserve()`) async-task uses. */
export interface PostgresJsReservedSql extends PostgresJsQueryable {
  release(): void;
}

/** The part of postgres.js's root `Sql` (what `postgres(url)` returns) async-task uses. */
export interface PostgresJsSql extends PostgresJsQueryable {
  begin(fn: (sql: PostgresJsTransactionSql) => Promise<unknown>): Promise<unknown>;
  reserve(): Promise<PostgresJsReservedSql>;
  listen(
    channel: string,
    onNotify: (payload: string) => void,
    onListen?: () => void,
  ): Promise<{ unlisten(): Promise<void> }>;
}

export interface PostgresJsDriverOptions {
  /**
   * Run each statement as a named prepared statement, prepared once per connection. Turn off
   * behind PgBouncer in transaction mode before 1.21, which cannot route prepared statements.
   * @defaultValue true
   */
  readonly preparedStatements?: boolean;
}

/**
 * The driver for postgres.js (`postgres` 3.4+). Give it the `sql` the worker should use
 * (`postgres(url)`); `enqueue` accepts the `sql` of `sql.begin(async (sql) => …)` — the normal
 * case — or the root `sql` for an enqueue outside any transaction.
 *
 * Nested transactions are postgres.js savepoints: an enqueue on the `sql` of
 * `sql.savepoint(async (sql) => …)` goes when that savepoint rolls back, and otherwise commits
 * with the outer transaction. `ctx.transaction` hands handlers a `TransactionSql` too.
 *
 * Use the `sql` of a `begin` callback only until the callback settles: postgres.js runs queries
 * sent on it later on the same connection, outside the transaction, without an error.
 *
 * Workers LISTEN with `sql.listen`, on postgres.js's own listening connection. postgres.js
 * re-issues LISTEN whenever that connection drops, and retries until it is back; each time it is
 * back, the worker is woken once to pick up what was committed meanwhile (polling covers the gap).
 *
 * Statements are run with `sql.unsafe(text, params, { prepare })`. The instance's `transform`
 * must leave column names as the server sends them, or give their inverse (`column.to`, as
 * `postgres.camel` does); other options (types, `fetch_types`, …) do not matter.
 *
 * @example
 * import postgres from 'postgres';
 * import { postgresJsDriver } from 'async-task/postgres';
 * const sql = postgres(process.env.DATABASE_URL);
 * const tasks = new AsyncTask({ driver: postgresJsDriver(sql), targets: [OrderClient] });
 * await sql.begin(async (sql) => {
 *   await sql`INSERT INTO orders (number) VALUES (7)`;
 *   await tasks.enqueue(sql, OrderClient.fulfill, { orderNumber: 7 });
 * });
 */
export function postgresJsDriver(
  sql: PostgresJsSql,
  options: PostgresJsDriverOptions = {},
): Driver<PostgresJsQueryable, PostgresJsTransactionSql> {
  if (
    typeof (sql as unknown) !== 'function' ||
    typeof sql.unsafe !== 'function' ||
    typeof sql.begin !== 'function' ||
    typeof sql.reserve !== 'function'
  ) {
    throw new ConfigError(
      'postgresJsDriver: pass the sql of postgres.js (const sql = postgres(url)), not a transaction or another client',
    );
  }
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError('postgresJsDriver: options must be an object');
  }
  const native = postgresJsConnections(sql, {
    preparedStatements: options.preparedStatements ?? true,
  });
  const reserved = async <T>(fn: (connection: SqlConnection) => Promise<T>): Promise<T> => {
    const connection = await sql.reserve().catch((error: unknown) => {
      throw databaseError('could not reserve a connection', error);
    });
    try {
      return await fn(native.connection(connection));
    } finally {
      connection.release();
    }
  };
  return {
    dialect: native.dialect,
    connection: (tx) => {
      if (typeof (tx as unknown) !== 'function' || typeof tx.unsafe !== 'function') {
        throw new ConfigError(
          'postgresJsDriver: pass the sql of sql.begin(async (sql) => …) (or the root sql) to enqueue',
        );
      }
      return native.connection(tx);
    },
    ...runAndSession(reserved),
    async transaction(fn) {
      let result: Awaited<ReturnType<typeof fn>> | undefined;
      // The handler's own error goes through as it is; BEGIN, COMMIT or a dropped connection
      // are the client's. The callback returns nothing: postgres.js would await an array result
      // element-wise.
      await separatingErrors(
        (inner) =>
          sql.begin(async (tx) => {
            result = await inner(() => fn(native.connection(tx), tx));
          }),
        (error) => asDatabaseError('the transaction failed', error),
      );
      return result as Awaited<ReturnType<typeof fn>>;
    },
    listen: native.listen,
  };
}
