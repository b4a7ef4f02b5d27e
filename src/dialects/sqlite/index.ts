import { SchemaOutdatedError } from '../../core/errors.js';
import type { Dialect, DriverSession, TableName } from '../../seam/driver.js';
import type { SchemaState } from '../../seam/executor.js';
import type { SqlConnection } from '../../seam/sql-connection.js';
import { loadMigrations, type MigrationFile } from '../migration-files.js';
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
    adHoc(`SELECT 1 AS present FROM sqlite_schema WHERE type = 'table' AND name = ?1`),
    [migrationsTableName(table)],
  );
  if (exists.rows.length === 0) return { applied: [], breakingUnknown: [] };
  const { rows } = await connection.query(
    adHoc(`SELECT version, breaking FROM ${migrationsTable(table)} ORDER BY version`),
    [],
  );
  const applied = rows.map((row) => Number(row['version']));
  const breakingUnknown = rows
    .filter((row) => Number(row['version']) > latestVersion && Number(row['breaking']) === 1)
    .map((row) => Number(row['version']));
  return { applied, breakingUnknown };
}

/**
 * The statements of a migration file, with the table filled in. Clients prepare one statement at
 * a time, so the file is split where a line ends with `;` (our files keep to that; comments are
 * dropped).
 */
function render(migration: MigrationFile, table: TableName): string[] {
  const sql = migration.sql
    .replaceAll('{{table}}', quoteTable(table))
    .replaceAll('{{name}}', table.name);
  return sql
    .split(/;[ \t]*$/m)
    .map((chunk) =>
      chunk
        .split('\n')
        .filter((line) => !/^\s*--/.test(line))
        .join('\n')
        .trim(),
    )
    .filter((statement) => statement !== '');
}

async function migrate(session: DriverSession, table: TableName): Promise<number[]> {
  checkTable(table);
  return session((own) =>
    own.transaction(async (connection) => {
      // The transaction takes the write lock as it begins: concurrent migrate() calls (other
      // connections or processes) wait for it, then see what the first one applied. DDL is
      // transactional in SQLite, so a failed migration leaves nothing behind.
      await connection.query(
        adHoc(`CREATE TABLE IF NOT EXISTS ${migrationsTable(table)} (
          version INTEGER PRIMARY KEY,
          name TEXT NOT NULL,
          breaking INTEGER NOT NULL DEFAULT 0 CHECK (breaking IN (0, 1)),
          applied_at INTEGER NOT NULL) STRICT`),
        [],
      );
      const state = await readState(connection, table);
      if (state.breakingUnknown.length > 0) throw newerSchemaError(table, state);
      const done = new Set(state.applied);
      const applied: number[] = [];
      for (const migration of migrations) {
        if (done.has(migration.version)) continue;
        for (const statement of render(migration, table)) {
          await connection.query(adHoc(statement), []);
        }
        await connection.query(
          adHoc(
            `INSERT INTO ${migrationsTable(table)} (version, name, breaking, applied_at)
             VALUES (?1, ?2, ?3, CAST(round(unixepoch('subsec') * 1000) AS INTEGER))`,
          ),
          [migration.version, migration.name, migration.breaking ? 1 : 0],
        );
        applied.push(migration.version);
      }
      return applied;
    }),
  );
}

export function newerSchemaError(table: TableName, state: SchemaState): SchemaOutdatedError {
  return new SchemaOutdatedError(
    `table ${quoteTable(table)} has migration(s) ${state.breakingUnknown.join(', ')} from a newer async-task that this version (schema ${latestVersion}) cannot run against; upgrade async-task`,
  );
}

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
  migrate,
  schemaState: readState,
  // SQLite cannot notify another connection: workers poll.
  notifyChannel: () => null,
};
