import type { Dialect, TableName } from '../../seam/driver.js';
import type { SchemaState } from '../../seam/executor.js';
import type { SqlConnection } from '../../seam/sql-connection.js';
import { newerSchemaError } from '../dialect-errors.js';
import { migrateTable, renderStatements, schemaState, type MigrateSteps } from '../migrate.js';
import { loadMigrations } from '../migration-files.js';
import { adHoc } from '../statements.js';
import { SqliteExecutor, checkTable, quoteTable } from './executor.js';

const migrations = loadMigrations(new URL('./migrations/', import.meta.url));
const latestVersion = Math.max(...migrations.map((m) => m.version));

function migrationsTableName(table: TableName): string {
  return `${table.name}_migrations`;
}

function migrationsTable(table: TableName): string {
  return quoteTable({ schema: table.schema, name: migrationsTableName(table) });
}

async function readState(connection: SqlConnection, table: TableName): Promise<SchemaState> {
  checkTable(table);
  const exists = await connection.query(
    adHoc(`SELECT 1 AS present FROM sqlite_schema WHERE type = 'table' AND name = ?`),
    [migrationsTableName(table)],
  );
  if (exists.rows.length === 0) return { applied: [], breakingUnknown: [] };
  const { rows } = await connection.query(
    adHoc(`SELECT version, breaking FROM ${migrationsTable(table)} ORDER BY version`),
    [],
  );
  return schemaState(rows, latestVersion);
}

const steps: MigrateSteps = {
  migrations,
  // The transaction takes the write lock as it begins: concurrent migrate() calls (other
  // connections or processes) wait for it, then see what the first one applied. DDL is
  // transactional in SQLite, so a failed migration leaves nothing behind.
  lock: (session, table, fn) => {
    checkTable(table);
    return session((own) => own.transaction(fn));
  },
  async createBookkeeping(connection, table) {
    await connection.query(
      adHoc(`CREATE TABLE IF NOT EXISTS ${migrationsTable(table)} (
          version INTEGER PRIMARY KEY,
          name TEXT NOT NULL,
          breaking INTEGER NOT NULL DEFAULT 0 CHECK (breaking IN (0, 1)),
          applied_at INTEGER NOT NULL) STRICT`),
      [],
    );
  },
  readState,
  newerSchemaError: (table, state) => newerSchemaError(quoteTable(table), state, latestVersion),
  render: (migration, table) =>
    renderStatements(migration, { '{{table}}': quoteTable(table), '{{name}}': table.name }),
  async record(connection, table, migration) {
    await connection.query(
      adHoc(
        `INSERT INTO ${migrationsTable(table)} (version, name, breaking, applied_at)
             VALUES (?, ?, ?, CAST(round(unixepoch('subsec') * 1000) AS INTEGER))`,
      ),
      [migration.version, migration.name, migration.breaking ? 1 : 0],
    );
  },
};

/**
 * The SQLite dialect (3.42+: RETURNING, UPDATE FROM, `->>`, `unixepoch('subsec')`; tested on
 * 3.53). Times are stored as INTEGER milliseconds since the epoch, ids as INTEGER (returned as
 * strings). Table names cannot carry a schema: `schema.name` is refused with a `ConfigError`.
 */
export const sqliteDialect: Dialect = {
  name: 'sqlite',
  // SQLite has no length limit on identifiers.
  tableNameLimit: null,
  latestVersion,
  executor: (connection, table) => new SqliteExecutor(connection, table),
  migrate: (session, table) => migrateTable(steps, session, table),
  schemaState: readState,
  // SQLite cannot notify another connection: workers poll.
  notifyChannel: () => null,
};
