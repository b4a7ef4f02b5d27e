// Transactions for connections that run transaction control as plain SQL statements:
// `withSqlTransactions` gives a connection its `transaction`, `inSqlTransaction` runs one, and
// `rollback` is the statement that ends one.
import type { Dialect } from '../../seam/driver.js';
import type { SqlConnection, Statement, TransactionOptions } from '../../seam/sql-connection.js';

const control = (text: string): Statement => ({ name: '', text, returnsRows: false });

const commit = control('COMMIT');
/** ROLLBACK, unnamed (never prepared): also for ending a transaction someone left open. */
export const rollback = control('ROLLBACK');
const begins: Readonly<
  Record<Dialect['name'], Readonly<Record<'default' | 'read committed', readonly Statement[]>>>
> = {
  postgres: {
    default: [control('BEGIN')],
    'read committed': [control('BEGIN ISOLATION LEVEL READ COMMITTED')],
  },
  mysql: {
    default: [control('START TRANSACTION')],
    // SET TRANSACTION applies to the next transaction only: the session's level is left alone.
    'read committed': [
      control('SET TRANSACTION ISOLATION LEVEL READ COMMITTED'),
      control('START TRANSACTION'),
    ],
  },
  // Serializable whatever is asked; IMMEDIATE takes the write lock up front, so two writers
  // wait on busy_timeout at BEGIN instead of failing at their first write.
  sqlite: { default: [control('BEGIN IMMEDIATE')], 'read committed': [control('BEGIN IMMEDIATE')] },
};

/** BEGIN, `fn`, then COMMIT; ROLLBACK (its own failure ignored) and rethrow when `fn` throws. */
export async function inSqlTransaction<T>(
  connection: SqlConnection,
  dialect: Dialect['name'],
  fn: (connection: SqlConnection) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  for (const statement of begins[dialect][options.isolation ?? 'default']) {
    await connection.query(statement, []);
  }
  let result: T;
  try {
    result = await fn(connection);
  } catch (error) {
    await connection.query(rollback, []).catch(() => undefined);
    throw error;
  }
  await connection.query(commit, []);
  return result;
}

/** `base` with the `transaction` of `inSqlTransaction`. */
export function withSqlTransactions(
  dialect: Dialect['name'],
  base: Omit<SqlConnection, 'transaction'>,
): SqlConnection {
  const connection: SqlConnection = {
    ...base,
    transaction: (fn, options) => inSqlTransaction(connection, dialect, fn, options),
  };
  return connection;
}
