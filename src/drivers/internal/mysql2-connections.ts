// mysql2 connections as async-task runs them, without a pool: `mysql2Connection` for the
// promise API (`mysql2/promise` pools and connections), `callbackMysqlConnection` for
// callback-style connections (mysql2's or mysql's, as knex and TypeORM hold them), and both in
// the native-connection shape (`mysql2Connections`, `callbackMysqlConnections`).
import { mysqlDialect } from '../../dialects/mysql/index.js';
import type { SqlConnection, SqlResult, Statement } from '../../seam/sql-connection.js';
import type { Mysql2QueryOptions, Mysql2Queryable } from '../mysql2.js';
import { asDatabaseError } from './client-errors.js';
import type { NativeConnections } from './native-connections.js';
import { rollback, withSqlTransactions } from './sql-transaction.js';

/** The start of the message of a DatabaseError for what MySQL (or mysql2) refused. */
export const refusedByMysql = 'MySQL refused the statement';

/** A mysql2/promise pool or connection as a SqlConnection. */
export function mysql2Connection(client: Mysql2Queryable): SqlConnection {
  return withSqlTransactions('mysql', {
    query: (statement, params) => runQuery(client, statement, params),
  });
}

interface MysqlCallbackConnection {
  query(
    options: Mysql2QueryOptions,
    callback: (error: Error | null, rows: unknown, fields: unknown) => void,
  ): unknown;
}

/** A callback-style MySQL connection, run exactly as a mysql2/promise one. */
export function callbackMysqlConnection(connection: unknown): SqlConnection {
  return mysql2Connection({
    query: (queryOptions: Mysql2QueryOptions) =>
      new Promise<[unknown, unknown]>((resolve, reject) => {
        (connection as MysqlCallbackConnection).query(queryOptions, (error, rows, fields) => {
          if (error) reject(error);
          else resolve([rows, fields]);
        });
      }),
  });
}

function nativeOf<Raw>(connection: (raw: Raw) => SqlConnection): NativeConnections<Raw> {
  return {
    dialect: mysqlDialect,
    connection,
    endTransaction: async (raw) => {
      await connection(raw).query(rollback, []);
    },
  };
}

export const mysql2Connections: NativeConnections<Mysql2Queryable> = nativeOf(mysql2Connection);
export const callbackMysqlConnections: NativeConnections<unknown> =
  nativeOf(callbackMysqlConnection);

async function runQuery(
  client: Mysql2Queryable,
  statement: Statement,
  params: readonly unknown[],
): Promise<SqlResult> {
  // `query`, not `execute`: values are escaped into the text client-side, which every MySQL and
  // MariaDB version accepts for every statement here (server-side prepared statements reject
  // some, such as `LIMIT ?` with a double). Rows as objects whatever the pool's defaults.
  let result: unknown;
  try {
    [result] = await client.query({
      sql: statement.text,
      values: params as unknown[],
      rowsAsArray: false,
      nestTables: false,
    });
  } catch (error) {
    throw asDatabaseError(refusedByMysql + packetHint(error, params), error);
  }
  if (Array.isArray(result)) {
    return { rows: result as Record<string, unknown>[], rowCount: result.length };
  }
  const affected = (result as { affectedRows?: unknown } | null)?.affectedRows;
  return { rows: [], rowCount: typeof affected === 'number' ? affected : 0 };
}

/** Errors MySQL's packet limit shows as: its own, or a connection the server closed mid-send. */
const packetLimitCodes = new Set(['ER_NET_PACKET_TOO_LARGE', 'ECONNRESET', 'EPIPE']);

/**
 * A statement past the server's `max_allowed_packet` is refused, or the server just closes the
 * connection (then the error says only ECONNRESET): with large parameters, say what it may be.
 */
function packetHint(error: unknown, params: readonly unknown[]): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !packetLimitCodes.has(code)) return '';
  let bytes = 0;
  for (const param of params) if (typeof param === 'string') bytes += Buffer.byteLength(param);
  if (bytes < 1 << 20) return '';
  return ` (its parameters hold ${Math.round(bytes / (1 << 20))} MB: past the server's max_allowed_packet? Raise it, or store large payloads elsewhere and enqueue their key)`;
}
