import { ConfigError } from '../../core/errors.js';
import type { TableName } from '../../seam/driver.js';
import type { SqlConnection } from '../../seam/sql-connection.js';
import { adHoc } from '../statements.js';

const sessionSettings = adHoc(
  `SELECT @@SESSION.autocommit AS autocommit,
     @@SESSION.character_set_client AS client,
     @@SESSION.character_set_connection AS connection_set,
     @@SESSION.character_set_results AS results`,
);

/**
 * Refuses a session whose settings would silently lose or change what async-task writes:
 * - a character set other than utf8mb4 between client and server turns every character it cannot
 *   hold into '?': arguments changed without an error, and a token stored as another token;
 * - autocommit off leaves what async-task writes outside the caller's transactions (claims,
 *   completions, an enqueue given the pool) uncommitted: rows locked, outcomes never written.
 */
export async function checkSession(connection: SqlConnection): Promise<void> {
  const row = (await connection.query(sessionSettings, [])).rows[0] ?? {};
  const sets = {
    client: row['client'],
    connection: row['connection_set'],
    results: row['results'],
  };
  const wrong = Object.entries(sets).filter(
    ([name, value]) => value !== 'utf8mb4' && !(name === 'results' && value === null),
  );
  if (wrong.length > 0) {
    const shown = wrong.map(([name, value]) => `character_set_${name} = ${String(value)}`);
    throw new ConfigError(
      `MySQL connection uses another character set than utf8mb4 (${shown.join(', ')}): async-task stores arguments, tokens and errors as utf8mb4, and the server turns every character the connection's set cannot hold into '?' without an error; give the pool charset utf8mb4 (mysql2 and the clients built on it: charset: 'utf8mb4_unicode_ci'; a URL: ?charset=utf8mb4_unicode_ci), or remove the SET NAMES that changes it`,
    );
  }
  if (Number(row['autocommit']) !== 1) {
    throw new ConfigError(
      `MySQL connection runs with autocommit off (@@autocommit = 0: the server's autocommit setting, init_connect, or a pool hook running SET autocommit = 0): async-task's own statements outside your transactions (claims, completions, and enqueues given the pool) would never commit, and their rows would stay locked; leave autocommit on for the pool's connections, and begin transactions with START TRANSACTION (mysql2: beginTransaction()) rather than SET autocommit = 0`,
    );
  }
}

const checkedInserts = new WeakMap<TableName, Promise<void>>();

/**
 * {@link checkSession} for enqueues, once per AsyncTask (its TableName): the first enqueue asks,
 * on the caller's connection (a second one from the pool could wait forever for a pool the caller
 * holds). Autocommit counts too: an enqueue given a pool whose connections run without it
 * returned an attempt that was never committed. A transaction begun with START TRANSACTION (every
 * client async-task supports begins one so) leaves autocommit on.
 */
export function checkInsertSession(table: TableName, connection: SqlConnection): Promise<void> {
  let checked = checkedInserts.get(table);
  if (checked === undefined) {
    checked = checkSession(connection).catch((error: unknown) => {
      checkedInserts.delete(table);
      throw error;
    });
    checkedInserts.set(table, checked);
  }
  return checked;
}
