import type { Dialect } from '../../seam/driver.js';
import { migrateTable, migrationScripts, readSchemaState, uninstallTable } from '../migrate.js';
import { loadMigrations } from '../migration-files.js';
import { SqliteExecutor, checkTable } from './executor.js';
import { sqliteSteps } from './schema.js';
import { transientTest } from '../transient-errors.js';

const migrations = loadMigrations(new URL('./migrations/', import.meta.url));
const latestVersion = Math.max(...migrations.map((m) => m.version));
const steps = sqliteSteps(migrations);

/** Another connection held the write lock (busy, locked), or the statement was interrupted. */
const isTransient = transientTest(new Set(['SQLITE_INTERRUPT']), ['SQLITE_BUSY', 'SQLITE_LOCKED']);

/**
 * The SQLite dialect (3.42+: RETURNING, UPDATE FROM, `->>`, `unixepoch('subsec')`; tested on
 * 3.53). Times are stored as INTEGER milliseconds since the epoch, ids as INTEGER (returned as
 * strings). Table names cannot carry a schema: `schema.name` is refused with a `ConfigError`.
 */
export const sqliteDialect: Dialect = {
  name: 'sqlite',
  // SQLite has no length limit on identifiers.
  tableNameLimit: null,
  checkTable,
  latestVersion,
  executor: (connection, table) => new SqliteExecutor(connection, table),
  migrate: (session, table, options) => migrateTable(steps, session, table, options),
  schemaState: (connection, table) => readSchemaState(steps, connection, table),
  uninstall: (session, table) => uninstallTable(steps, session, table),
  migrationScripts: (table) => migrationScripts(steps, table),
  // SQLite cannot notify another connection: workers poll.
  notifyChannel: () => null,
  isTransient,
};
