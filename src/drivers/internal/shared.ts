// Pieces the ORM and query-builder drivers share. Not an entry point: nothing here is public.
import type { SqlConnection } from '../../seam/sql-connection.js';
import { mysql2Driver, type Mysql2Pool, type Mysql2QueryOptions } from '../mysql2.js';

interface MysqlCallbackConnection {
  query(
    options: Mysql2QueryOptions,
    callback: (error: Error | null, rows: unknown, fields: unknown) => void,
  ): unknown;
}

/** Only `connection()` of this driver is used: it never opens a connection of its own. */
const mysql = mysql2Driver({
  getConnection: () => Promise.reject(new Error('not used')),
  query: () => Promise.reject(new Error('not used')),
} satisfies Mysql2Pool);

/**
 * A callback-style MySQL connection (mysql2's, or mysql's), such as knex and TypeORM hold, run
 * exactly as the mysql2 driver runs its promise connections.
 */
export function callbackMysqlConnection(connection: unknown): SqlConnection {
  return mysql.connection({
    query: (queryOptions: Mysql2QueryOptions) =>
      new Promise<[unknown, unknown]>((resolve, reject) => {
        (connection as MysqlCallbackConnection).query(queryOptions, (error, rows, fields) => {
          if (error) reject(error);
          else resolve([rows, fields]);
        });
      }),
  });
}

/**
 * Runs `call`, which runs the caller's code through `inner` (inside a client's transaction or
 * connection scope). Errors thrown by that code pass through as they are; any other error (the
 * client's own: connecting, BEGIN, COMMIT) goes through `translate`.
 */
export async function separatingErrors<T>(
  call: (inner: <U>(fn: () => Promise<U>) => Promise<U>) => Promise<T>,
  translate: (error: unknown) => unknown,
): Promise<T> {
  const fromFn = new WeakSet<object>();
  let thrown: { error: unknown } | undefined;
  const inner = async <U>(fn: () => Promise<U>): Promise<U> => {
    try {
      return await fn();
    } catch (error) {
      if (typeof error === 'object' && error !== null) fromFn.add(error);
      else thrown = { error };
      throw error;
    }
  };
  try {
    return await call(inner);
  } catch (error) {
    if (
      (typeof error === 'object' && error !== null && fromFn.has(error)) ||
      (thrown !== undefined && thrown.error === error)
    ) {
      throw error;
    }
    throw translate(error);
  }
}
