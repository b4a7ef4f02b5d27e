import { AsyncTaskError, ConfigError } from '../core/errors.js';
import type { Driver } from '../seam/driver.js';
import { databaseError, translated } from './internal/client-errors.js';
import {
  mysql2Connection,
  mysql2Connections,
  refusedByMysql,
} from './internal/mysql2-connections.js';
import { runAndSession } from './internal/native-connections.js';

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
      throw databaseError('could not get a connection from the pool', error);
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
    dialect: mysql2Connections.dialect,
    connection: (tx) => {
      // execute() too: a node-postgres client has query() alone, and would fail later as a
      // database refusal.
      if (
        typeof tx !== 'object' ||
        tx === null ||
        typeof tx.query !== 'function' ||
        typeof (tx as { execute?: unknown }).execute !== 'function'
      ) {
        throw new ConfigError(
          'mysql2Driver: pass a mysql2/promise PoolConnection inside beginTransaction() (or the pool)',
        );
      }
      if (typeof (tx as { promise?: unknown }).promise === 'function') {
        throw new ConfigError(
          'mysql2Driver: pass the promise API of the connection (connection.promise(), or mysql2/promise)',
        );
      }
      return mysql2Connection(tx);
    },
    ...runAndSession((fn) => withConnection((connection) => fn(mysql2Connection(connection)))),
    transaction: (fn) =>
      withConnection(async (connection) => {
        await translated(refusedByMysql, () => connection.beginTransaction());
        let result;
        try {
          result = await fn(mysql2Connection(connection), connection);
        } catch (error) {
          await connection.rollback().catch(() => undefined);
          throw error;
        }
        await translated(refusedByMysql, () => connection.commit());
        return result;
      }),
  };
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
