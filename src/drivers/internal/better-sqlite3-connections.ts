// better-sqlite3 databases as async-task runs them: synchronously (`querySync`), each named
// statement prepared once per connection. `betterSqlite3Connection` wraps a `Database` (one
// SqlConnection per database), `betterSqlite3Connections` is the native-connection shape, and
// `executeOn` runs one statement, for connections that add to it (the worker's busy retry).
import { sqliteDialect } from '../../dialects/sqlite/index.js';
import type { SqlConnection, SqlResult, Statement } from '../../seam/sql-connection.js';
import type { BetterSqlite3Database, BetterSqlite3Statement } from '../better-sqlite3.js';
import { asDatabaseError } from './client-errors.js';
import type { NativeConnections } from './native-connections.js';
import { rollback, withSqlTransactions } from './sql-transaction.js';

/** Each named statement is prepared once per connection. */
const statementCache = new WeakMap<BetterSqlite3Database, Map<string, BetterSqlite3Statement>>();
const connections = new WeakMap<BetterSqlite3Database, SqlConnection>();

/** `db` as async-task runs SQL on it: synchronously, wrapped or not in a promise. */
export function betterSqlite3Connection(db: BetterSqlite3Database): SqlConnection {
  let connection = connections.get(db);
  if (!connection) {
    connection = withSqlTransactions('sqlite', {
      // The statement runs before the promise is returned; the promise only carries the outcome.
      query: (statement, params) =>
        new Promise((resolve) => resolve(executeOn(db, statement, params))),
      querySync: (statement, params) => executeOn(db, statement, params),
      inTransaction: () => db.inTransaction,
    });
    connections.set(db, connection);
  }
  return connection;
}

export const betterSqlite3Connections: NativeConnections<BetterSqlite3Database> = {
  dialect: sqliteDialect,
  connection: betterSqlite3Connection,
  endTransaction: async (db) => {
    if (db.inTransaction) await betterSqlite3Connection(db).query(rollback, []);
  },
};

/** Runs `statement` on `db`; SQLite's errors become DatabaseError. */
export function executeOn(
  db: BetterSqlite3Database,
  statement: Statement,
  params: readonly unknown[],
): SqlResult {
  try {
    // Plain `?` only, bound from the array: the dialect sends no numbered `?NNN`, which
    // better-sqlite3 would bind by name from an object instead.
    const prepared = prepare(db, statement);
    if (prepared.reader) {
      const rows = prepared.all(...params) as Record<string, unknown>[];
      return { rows, rowCount: rows.length };
    }
    return { rows: [], rowCount: prepared.run(...params).changes };
  } catch (error) {
    throw asDatabaseError('SQLite refused the statement', error);
  }
}

function prepare(db: BetterSqlite3Database, statement: Statement): BetterSqlite3Statement {
  let cache = statementCache.get(db);
  const cached = statement.name === '' ? undefined : cache?.get(statement.name);
  if (cached) return cached;
  const prepared = db.prepare(statement.text);
  if (statement.name !== '') {
    if (!cache) statementCache.set(db, (cache = new Map<string, BetterSqlite3Statement>()));
    cache.set(statement.name, prepared);
  }
  return prepared;
}

/** Whether `value` looks like a better-sqlite3 `Database`. */
export function isBetterSqlite3Database(value: unknown): value is BetterSqlite3Database {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as BetterSqlite3Database).prepare === 'function' &&
    typeof (value as BetterSqlite3Database).pragma === 'function' &&
    'memory' in value
  );
}
