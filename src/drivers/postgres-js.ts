import { AsyncTaskError, ConfigError, DatabaseError } from '../core/errors.js';
import { postgresDialect } from '../dialects/postgres/index.js';
import type { Driver, Unlisten } from '../seam/driver.js';
import type { SqlConnection, SqlResult, Statement } from '../seam/sql-connection.js';
import { withSqlTransactions } from './internal/sql-transaction.js';

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
  const prepare = options.preparedStatements ?? true;
  const columnTransform = (sql as { options?: { transform?: { column?: ColumnTransform } } })
    .options?.transform?.column;
  if (typeof columnTransform?.from === 'function' && typeof columnTransform.to !== 'function') {
    throw new ConfigError(
      'postgresJsDriver: the sql transforms column names without an inverse (transform.column.to); use postgres.camel/snake-style transforms that have both, or none',
    );
  }
  const renameColumn = typeof columnTransform?.from === 'function' ? columnTransform.to : undefined;
  const parameterTypes = new Map<string, readonly number[]>();
  const wrap = (client: PostgresJsQueryable): SqlConnection =>
    withSqlTransactions('postgres', {
      query: (statement, params) =>
        runQuery(client, statement, params, { prepare, parameterTypes, renameColumn }),
    });
  const reserved = async <T>(fn: (connection: SqlConnection) => Promise<T>): Promise<T> => {
    const connection = await sql.reserve().catch((error: unknown) => {
      throw new DatabaseError(`could not reserve a connection: ${messageOf(error)}`, {
        cause: error,
      });
    });
    try {
      return await fn(wrap(connection));
    } finally {
      connection.release();
    }
  };
  return {
    dialect: postgresDialect,
    connection: (tx) => {
      if (typeof (tx as unknown) !== 'function' || typeof tx.unsafe !== 'function') {
        throw new ConfigError(
          'postgresJsDriver: pass the sql of sql.begin(async (sql) => …) (or the root sql) to enqueue',
        );
      }
      return wrap(tx);
    },
    run: reserved,
    session: reserved,
    async transaction(fn) {
      let result: Awaited<ReturnType<typeof fn>> | undefined;
      let failure: { error: unknown } | undefined;
      try {
        // The callback returns nothing: postgres.js would await an array result element-wise.
        await sql.begin(async (tx) => {
          try {
            result = await fn(wrap(tx), tx);
          } catch (error) {
            failure = { error };
            throw error;
          }
        });
      } catch (error) {
        // The handler's own error goes through as it is; BEGIN, COMMIT or a dropped connection
        // are the client's.
        if (failure !== undefined && failure.error === error) throw error;
        if (error instanceof AsyncTaskError) throw error;
        throw new DatabaseError(`the transaction failed: ${messageOf(error)}`, { cause: error });
      }
      return result as Awaited<ReturnType<typeof fn>>;
    },
    listen: (channel, onNotify, onError) => listen(sql, channel, onNotify, onError),
  };
}

interface ColumnTransform {
  from?: unknown;
  to?: (name: string) => string;
}

interface QueryContext {
  readonly prepare: boolean;
  /** Parameter OIDs per statement text, as the server declared them (one describe per text). */
  readonly parameterTypes: Map<string, readonly number[]>;
  readonly renameColumn: ((name: string) => string) | undefined;
}

const jsonTypes = new Set([114, 3802]);

async function runQuery(
  client: PostgresJsQueryable,
  statement: Statement,
  params: readonly unknown[],
  context: QueryContext,
): Promise<SqlResult> {
  const prepare = context.prepare && statement.name !== '';
  try {
    const values = await toParameters(client, statement, params, context);
    const rows = await client.unsafe(statement.text, values, { prepare });
    const rename = context.renameColumn;
    return {
      rows: rename ? rows.map((row) => renameKeys(row, rename)) : rows,
      rowCount: rows.count ?? rows.length,
    };
  } catch (error) {
    if (error instanceof AsyncTaskError) throw error;
    throw new DatabaseError(`PostgreSQL refused the statement: ${messageOf(error)}`, {
      cause: error,
    });
  }
}

/**
 * postgres.js serialises a parameter by the type the server declares for it: a JSON parameter
 * with `JSON.stringify`, which would encode the dialect's JSON text a second time. So the types
 * are asked once per statement text, and JSON text is handed over parsed. Arrays are sent as
 * array literals, which postgres.js passes through whether or not it fetched the array types.
 * Everything else (numbers, id strings, dates, null) it sends as text the server reads as the
 * declared type.
 */
async function toParameters(
  client: PostgresJsQueryable,
  statement: Statement,
  params: readonly unknown[],
  context: QueryContext,
): Promise<unknown[]> {
  if (!params.some((value) => typeof value === 'string')) return params.map(toParameter);
  let types = context.parameterTypes.get(statement.text);
  if (types === undefined) {
    types = (await client.unsafe(statement.text, [], { prepare: context.prepare }).describe())
      .types;
    context.parameterTypes.set(statement.text, types);
  }
  const declared = types;
  return params.map((value, index) =>
    typeof value === 'string' && jsonTypes.has(declared[index] ?? 0)
      ? (JSON.parse(value) as unknown)
      : toParameter(value),
  );
}

function toParameter(value: unknown): unknown {
  if (value === undefined) return null;
  if (Array.isArray(value)) return arrayLiteral(value);
  return value;
}

function arrayLiteral(values: readonly unknown[]): string {
  const items = values.map((value) => {
    if (value === null || value === undefined) return 'NULL';
    const text =
      typeof value === 'string'
        ? value
        : value instanceof Date
          ? value.toISOString()
          : JSON.stringify(value);
    return `"${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
  });
  return `{${items.join(',')}}`;
}

function renameKeys(
  row: Record<string, unknown>,
  rename: (name: string) => string,
): Record<string, unknown> {
  const renamed: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) renamed[rename(key)] = value;
  return renamed;
}

async function listen(
  sql: PostgresJsSql,
  channel: string,
  onNotify: (payload: string) => void,
  onError: (error: Error) => void,
): Promise<Unlisten> {
  let active = true;
  let subscriptions = 0;
  let meta: { unlisten(): Promise<void> };
  try {
    meta = await sql.listen(
      channel,
      (payload) => {
        if (active) onNotify(payload);
      },
      () => {
        // Called once per successful LISTEN: after the first, postgres.js has re-subscribed on a
        // new connection, and notifications sent in between are gone: wake every queue.
        subscriptions += 1;
        if (active && subscriptions > 1) onNotify('');
      },
    );
  } catch (error) {
    throw new DatabaseError(`could not LISTEN on ${channel}: ${messageOf(error)}`, {
      cause: error,
    });
  }
  // postgres.js keeps the subscription itself (it re-issues LISTEN until it succeeds, and only
  // gives up when the sql is ended), so there is no lost subscription to report: `onError` is
  // never called.
  void onError;
  return async () => {
    if (!active) return;
    active = false;
    await meta.unlisten();
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
