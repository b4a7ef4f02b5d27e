import type { Dialect, TableNameLimit } from '../../seam/driver.js';
import { migrateTable, migrationScripts, readSchemaState, uninstallTable } from '../migrate.js';
import { loadMigrations } from '../migration-files.js';
import { notifyChannel, PostgresExecutor } from './executor.js';
import { postgresSteps } from './schema.js';
import { networkCodes, transientTest } from '../transient-errors.js';

const migrations = loadMigrations(new URL('./migrations/', import.meta.url));
const latestVersion = Math.max(...migrations.map((m) => m.version));
const steps = postgresSteps(migrations);

/**
 * Names the dialect's own code derives from the table's name, beside those in the migrations
 * (`_migrations`: async-task 0.1's bookkeeping table, still adopted and removed).
 */
const derivedInCode = ['_migrations', '_claim_due'];

/**
 * PostgreSQL cuts identifiers to 63 bytes (with a notice only), so two derived names that differ
 * only past that point (`<name>_due_idx`, `<name>_lease_idx`) would be one object. The limit comes
 * from the longest suffix in the migrations: a new migration with a longer one lowers it.
 */
const tableNameLimit = ((): TableNameLimit => {
  const suffixes = new Set(derivedInCode);
  for (const migration of migrations) {
    for (const match of migration.sql.matchAll(/\{\{name\}\}(\w+)/g)) suffixes.add(match[1]!);
  }
  const longest = [...suffixes].reduce((a, b) => (b.length > a.length ? b : a));
  return {
    maxLength: 63 - longest.length,
    reason: `PostgreSQL cuts identifiers at 63 bytes, and the names derived from it (such as <name>${longest}) must stay whole and distinct`,
  };
})();

/**
 * Statement and lock timeouts, serialization failures and deadlocks, the server shutting down or
 * not yet up, too many connections, and a broken connection (class 08; postgres.js's own codes).
 */
const isTransient = transientTest(
  new Set([
    '57014',
    '55P03',
    '40001',
    '40P01',
    '57P01',
    '57P02',
    '57P03',
    '53300',
    '25P03',
    'CONNECTION_CLOSED',
    'CONNECTION_ENDED',
    'CONNECTION_DESTROYED',
    'CONNECT_TIMEOUT',
    ...networkCodes,
  ]),
  ['08'],
);

/** The PostgreSQL dialect (9.5+ for SKIP LOCKED; tested on 15). */
export const postgresDialect: Dialect = {
  name: 'postgres',
  tableNameLimit,
  latestVersion,
  executor: (connection, table) => new PostgresExecutor(connection, table),
  migrate: (session, table, options) => migrateTable(steps, session, table, options),
  schemaState: (connection, table) => readSchemaState(steps, connection, table),
  uninstall: (session, table) => uninstallTable(steps, session, table),
  migrationScripts: (table) => migrationScripts(steps, table),
  notifyChannel,
  isTransient,
};
