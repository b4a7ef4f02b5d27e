import type { Dialect } from '../../seam/driver.js';
import { migrateTable, migrationScripts, readSchemaState, uninstallTable } from '../migrate.js';
import { loadMigrations } from '../migration-files.js';
import { MysqlExecutor } from './executor.js';
import { checkSession } from './session-check.js';
import { mysqlSteps } from './schema.js';
import { networkCodes, transientTest } from '../transient-errors.js';

const migrations = loadMigrations(new URL('./migrations/', import.meta.url));
const latestVersion = Math.max(...migrations.map((m) => m.version));
const steps = mysqlSteps(migrations);

/**
 * Lock wait timeouts and deadlock victims, statements interrupted or past their time limit
 * (MySQL's max_execution_time, MariaDB's max_statement_time), the server shutting down, too many
 * connections, and a broken connection. mysql2 names them (`code`) and numbers them (`errno`).
 */
const isTransient = transientTest(
  new Set([
    'ER_LOCK_WAIT_TIMEOUT',
    'ER_LOCK_DEADLOCK',
    'ER_QUERY_INTERRUPTED',
    'ER_QUERY_TIMEOUT',
    'ER_STATEMENT_TIMEOUT',
    'ER_SERVER_SHUTDOWN',
    'ER_CON_COUNT_ERROR',
    'PROTOCOL_CONNECTION_LOST',
    'PROTOCOL_SEQUENCE_TIMEOUT',
    '1205',
    '1213',
    '1317',
    '3024',
    '1969',
    '1053',
    '1040',
    ...networkCodes,
  ]),
);

/**
 * The MySQL / MariaDB dialect: MySQL 8.0.13+ or MariaDB 10.6+ (SKIP LOCKED, JSON_TABLE,
 * expression defaults), InnoDB. Tested on MariaDB 10.11. Times are DATETIME(3) in UTC, ids
 * BIGINT UNSIGNED (returned as strings). `schema.name` names a table in another database.
 */
export const mysqlDialect: Dialect = {
  name: 'mysql',
  // Identifiers may have 64 characters, more than the table-name pattern allows; index names are
  // per table, and the one derived name (0.1's migrations table) is shortened with a hash.
  tableNameLimit: null,
  latestVersion,
  executor: (connection, table) => new MysqlExecutor(connection, table),
  migrate: (session, table, options) => migrateTable(steps, session, table, options),
  schemaState: async (connection, table) => {
    await checkSession(connection);
    return readSchemaState(steps, connection, table);
  },
  uninstall: (session, table) => uninstallTable(steps, session, table),
  migrationScripts: (table) => migrationScripts(steps, table),
  // MySQL cannot notify another connection: workers poll.
  notifyChannel: () => null,
  isTransient,
};
