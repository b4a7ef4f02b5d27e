import type { SqlConnection, Statement } from '../../src/seam/sql-connection.js';

/**
 * `connection` with each statement sent `delayMs(statement)` ms after it is asked for (none at 0),
 * in its transactions too: a claim's statements spread out in time, as under load.
 */
export function slowed(
  connection: SqlConnection,
  delayMs: (statement: Statement) => number,
): SqlConnection {
  return {
    query: async (statement, params) => {
      const ms = delayMs(statement);
      if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
      return connection.query(statement, params);
    },
    transaction: (fn, options) => connection.transaction((tx) => fn(slowed(tx, delayMs)), options),
  };
}
