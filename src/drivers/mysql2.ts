import { AsyncTaskError, ConfigError, DatabaseError } from '../core/errors.js';
import { mysqlDialect } from '../dialects/mysql/index.js';
import type { Driver } from '../seam/driver.js';
import type { SqlConnection, SqlResult, Statement } from '../seam/sql-connection.js';
import { withSqlTransactions } from './internal/sql-transaction.js';

/** The part of mysql2's query options async-task sets. */
export interface Mysql2QueryOptions {
  readonly sql: string;
  readonly values?: unknown[];
  readonly rowsAsArray?: boolean;
  readonly nestTables?: boolean;
}

/**
 * The part of mysql2/promise's `Pool`, `PoolConnection` and `Connection` async-task uses: `query`
 * resolves to `[rows, fields]` for a SELECT and `[ResultSetHeader, undefined]` for a write.
 */
export interface Mysql2Queryable {
  query(options: Mysql2QueryOptions): Promise<[unknown, unknown]>;
}

/** The part of mysql2/promise's `PoolConnection` async-task uses. */
export interface Mysql2PoolConnection extends Mysql2Queryable {
  beginTransaction(): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  release(): void;
  destroy(): void;
}

/** The part of mysql2/promise's `Pool` async-task uses. */
export interface Mysql2Pool extends Mysql2Queryable {
  getConnection(): Promise<Mysql2PoolConnection>;
}

/** None yet: the argument is there so every driver has the same `(client, options?)` shape. */
export type Mysql2DriverOptions = Readonly<Record<never, never>>;

/**
 * The driver for mysql2 (MySQL 8.0.13+ or MariaDB 10.6+). Give it the `mysql2/promise` pool the
 * worker should use; `enqueue` accepts a `PoolConnection` (or `Connection`) after
 * `beginTransaction()` — the normal case — or the pool itself for an enqueue outside any
 * transaction. A connection in autocommit mode works too, but then its rows commit statement by
 * statement, like the pool's.
 *
 * The pool's options are left alone: async-task formats times, ids and numbers in SQL, so
 * `timezone`, `dateStrings`, `supportBigNumbers` and the session's `time_zone` do not matter.
 *
 * @example
 * import mysql from 'mysql2/promise';
 * import { mysql2Driver } from 'async-task/mysql2';
 * const pool = mysql.createPool({ uri: process.env.DATABASE_URL });
 * const tasks = new AsyncTask({ driver: mysql2Driver(pool), targets: [OrderClient] });
 */
export function mysql2Driver(
  pool: Mysql2Pool,
  options: Mysql2DriverOptions = {},
): Driver<Mysql2Queryable, Mysql2PoolConnection> {
  if (
    typeof pool !== 'object' ||
    pool === null ||
    typeof pool.getConnection !== 'function' ||
    typeof pool.query !== 'function'
  ) {
    throw new ConfigError(
      'mysql2Driver: pass a mysql2/promise Pool (mysql.createPool({ uri })), not a connection',
    );
  }
  if (typeof (pool as { promise?: unknown }).promise === 'function') {
    throw new ConfigError(
      'mysql2Driver: pass the promise API of the pool (import mysql from "mysql2/promise", or pool.promise())',
    );
  }
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError('mysql2Driver: options must be an object');
  }
  const withConnection = async <T>(fn: (connection: Mysql2PoolConnection) => Promise<T>) => {
    const connection = await pool.getConnection().catch((error: unknown) => {
      throw new DatabaseError(`could not get a connection from the pool: ${messageOf(error)}`, {
        cause: error,
      });
    });
    let broken = false;
    try {
      return await fn(connection);
    } catch (error) {
      broken = isConnectionError(error);
      if (!broken) {
        // Never hand a connection back inside a transaction someone forgot to end.
        await connection.rollback().catch(() => {
          broken = true;
        });
      }
      throw error;
    } finally {
      if (broken) connection.destroy();
      else connection.release();
    }
  };
  return {
    dialect: mysqlDialect,
    connection: (tx) => {
      if (typeof tx !== 'object' || tx === null || typeof tx.query !== 'function') {
        throw new ConfigError(
          'mysql2Driver: pass a mysql2/promise PoolConnection inside beginTransaction() (or the pool)',
        );
      }
      if (typeof (tx as { promise?: unknown }).promise === 'function') {
        throw new ConfigError(
          'mysql2Driver: pass the promise API of the connection (connection.promise(), or mysql2/promise)',
        );
      }
      return wrap(tx);
    },
    run: (fn) => withConnection((connection) => fn(wrap(connection))),
    session: (fn) => withConnection((connection) => fn(wrap(connection))),
    transaction: (fn) =>
      withConnection(async (connection) => {
        await translated(() => connection.beginTransaction());
        let result;
        try {
          result = await fn(wrap(connection), connection);
        } catch (error) {
          await connection.rollback().catch(() => undefined);
          throw error;
        }
        await translated(() => connection.commit());
        return result;
      }),
  };
}

function wrap(client: Mysql2Queryable): SqlConnection {
  return withSqlTransactions('mysql', {
    query: (statement, params) => runQuery(client, statement, params),
  });
}

async function runQuery(
  client: Mysql2Queryable,
  statement: Statement,
  params: readonly unknown[],
): Promise<SqlResult> {
  // `query`, not `execute`: values are escaped into the text client-side, which every MySQL and
  // MariaDB version accepts for every statement here (server-side prepared statements reject
  // some, such as `LIMIT ?` with a double). Rows as objects whatever the pool's defaults.
  const [result] = await translated(() =>
    client.query({
      sql: statement.text,
      values: params as unknown[],
      rowsAsArray: false,
      nestTables: false,
    }),
  );
  if (Array.isArray(result)) {
    return { rows: result as Record<string, unknown>[], rowCount: result.length };
  }
  const affected = (result as { affectedRows?: unknown } | null)?.affectedRows;
  return { rows: [], rowCount: typeof affected === 'number' ? affected : 0 };
}

/** Runs a client call, turning its errors into DatabaseError (the client's error as `cause`). */
async function translated<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof AsyncTaskError) throw error;
    throw new DatabaseError(`MySQL refused the statement: ${messageOf(error)}`, { cause: error });
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Errors after which the connection must not go back to the pool. */
function isConnectionError(error: unknown): boolean {
  const cause = error instanceof AsyncTaskError ? error.cause : error;
  if ((cause as { fatal?: unknown } | null)?.fatal === true) return true;
  const code = (cause as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' &&
    /^(PROTOCOL_CONNECTION_LOST|ECONNRESET|EPIPE|ETIMEDOUT|ER_CON_COUNT_ERROR)$/.test(code)
  );
}
