import { createHash } from 'node:crypto';
import type { Dialect, TableName, TableNameLimit } from '../../seam/driver.js';
import type { SchemaState } from '../../seam/executor.js';
import type { SqlConnection } from '../../seam/sql-connection.js';
import { newerSchemaError } from '../dialect-errors.js';
import { migrateTable, readSchemaState, type MigrateSteps } from '../migrate.js';
import { loadMigrations } from '../migration-files.js';
import { adHoc, fill } from '../statements.js';
import { PostgresExecutor, isMissingTable, quoteTable } from './executor.js';

const migrations = loadMigrations(new URL('./migrations/', import.meta.url));
const latestVersion = Math.max(...migrations.map((m) => m.version));

/** Names the dialect's own code derives from the table's name, beside those in the migrations. */
const derivedInCode = ['_migrations', '_claim'];

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

function migrationsTable(table: TableName): string {
  return quoteTable({ schema: table.schema, name: `${table.name}_migrations` });
}

function readState(connection: SqlConnection, table: TableName): Promise<SchemaState> {
  return readSchemaState(
    connection,
    `SELECT version, breaking FROM ${migrationsTable(table)} ORDER BY version`,
    latestVersion,
    isMissingTable,
  );
}

/** Channel names are identifiers (63 bytes at most): derive a short, stable one per table. */
function notifyChannel(table: TableName): string {
  return `async_task_${createHash('sha1').update(quoteTable(table)).digest('hex').slice(0, 16)}`;
}

const steps: MigrateSteps = {
  migrations,
  // Transaction-scoped advisory lock: concurrent migrate() calls run one after another, and the
  // lock goes away with the transaction even if this process dies. Called in FROM so the row has
  // a plain column: clients that type every column (Prisma) refuse a `void` one.
  lock: (session, table, fn) =>
    session((own) =>
      own.transaction(async (connection) => {
        await connection.query(
          adHoc('SELECT true AS locked FROM pg_advisory_xact_lock(hashtext($1))'),
          [`async-task:${quoteTable(table)}`],
        );
        return fn(connection);
      }),
    ),
  async createBookkeeping(connection, table) {
    if (table.schema !== null) {
      await connection.query(adHoc(`CREATE SCHEMA IF NOT EXISTS "${table.schema}"`), []);
    }
    await connection.query(
      adHoc(`CREATE TABLE IF NOT EXISTS ${migrationsTable(table)} (
          version integer PRIMARY KEY,
          name text NOT NULL,
          breaking boolean NOT NULL DEFAULT false,
          applied_at timestamptz NOT NULL DEFAULT now())`),
      [],
    );
  },
  readState,
  newerSchemaError: (table, state) => newerSchemaError(quoteTable(table), state, latestVersion),
  // One statement: the whole file, in the migration's transaction.
  render: (migration, table) => [
    fill(migration.sql, {
      '{{table}}': quoteTable(table),
      '{{schema}}': table.schema === null ? '' : `"${table.schema}".`,
      '{{name}}': table.name,
      '{{channel}}': notifyChannel(table),
    }),
  ],
  async record(connection, table, migration) {
    await connection.query(
      adHoc(`INSERT INTO ${migrationsTable(table)} (version, name, breaking) VALUES ($1, $2, $3)`),
      [migration.version, migration.name, migration.breaking],
    );
  },
};

/** The PostgreSQL dialect (9.5+ for SKIP LOCKED; tested on 15). */
export const postgresDialect: Dialect = {
  name: 'postgres',
  tableNameLimit,
  latestVersion,
  executor: (connection, table) => new PostgresExecutor(connection, table),
  migrate: (session, table) => migrateTable(steps, session, table),
  schemaState: readState,
  notifyChannel,
};
