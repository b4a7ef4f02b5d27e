import { createHash } from 'node:crypto';
import { DatabaseError, SchemaOutdatedError } from '../../core/errors.js';
import type { Dialect, DriverSession, TableName } from '../../seam/driver.js';
import type { SchemaState } from '../../seam/executor.js';
import type { SqlConnection } from '../../seam/sql-connection.js';
import { loadMigrations, type MigrationFile } from '../migration-files.js';
import { adHoc } from '../statements.js';
import { MysqlExecutor, isNoSuchTable, quoteTable } from './executor.js';

const migrations = loadMigrations(new URL('./migrations/', import.meta.url));
const latestVersion = Math.max(...migrations.map((m) => m.version));

/** How long migrate() waits for another process's migrate() to finish. */
const migrateLockTimeoutSeconds = 600;

/**
 * `<name>_migrations`, unless that would pass MySQL's 64-character limit on identifiers: then
 * the name is cut and a hash of the whole keeps it unique.
 */
function migrationsTableName(table: TableName): string {
  const name = `${table.name}_migrations`;
  if (name.length <= 64) return name;
  const hash = createHash('sha1').update(table.name).digest('hex').slice(0, 8);
  return `${table.name.slice(0, 64 - '_migrations'.length - 9)}_${hash}_migrations`;
}

function migrationsTable(table: TableName): string {
  return quoteTable({ schema: table.schema, name: migrationsTableName(table) });
}

async function readState(connection: SqlConnection, table: TableName): Promise<SchemaState> {
  let rows: readonly Record<string, unknown>[];
  try {
    ({ rows } = await connection.query(
      adHoc(
        `SELECT version, breaking FROM ${migrationsTable(table)}
         WHERE applied_at IS NOT NULL ORDER BY version`,
      ),
      [],
    ));
  } catch (error) {
    if (isNoSuchTable(error)) return { applied: [], breakingUnknown: [] };
    throw error;
  }
  const applied = rows.map((row) => Number(row['version']));
  const breakingUnknown = rows
    .filter((row) => Number(row['version']) > latestVersion && Number(row['breaking']) === 1)
    .map((row) => Number(row['version']));
  return { applied, breakingUnknown };
}

/**
 * The statements of a migration file, with the table filled in. Without the client's
 * multi-statement mode each is sent on its own: the file is split where a line ends with `;`
 * (our files keep to that; comment lines are dropped).
 */
function render(migration: MigrationFile, table: TableName): string[] {
  return migration.sql
    .replaceAll('{{table}}', quoteTable(table))
    .split('\n')
    .filter((line) => !/^\s*--/.test(line))
    .join('\n')
    .split(/;[ \t]*$/m)
    .map((statement) => statement.trim())
    .filter((statement) => statement !== '');
}

/**
 * MySQL error numbers meaning "this DDL already happened": what a statement of an interrupted
 * migration raises when it runs again. Tolerated only when resuming that migration.
 */
const alreadyDone = new Set([
  1050, // ER_TABLE_EXISTS_ERROR
  1060, // ER_DUP_FIELDNAME
  1061, // ER_DUP_KEYNAME
  1091, // ER_CANT_DROP_FIELD_OR_KEY
  1826, // ER_FK_DUP_NAME
  3822, // ER_CHECK_CONSTRAINT_DUP_NAME
]);

function errnoOf(error: unknown): unknown {
  const cause = (error as { cause?: unknown } | null)?.cause ?? error;
  return (cause as { errno?: unknown } | null)?.errno;
}

/**
 * Applies missing migrations. MySQL commits every DDL statement on its own (no transactional
 * DDL), so the steps are made safe one by one rather than all at once:
 * - a named lock (GET_LOCK, held by this session) serialises migrate() across processes; it goes
 *   away with the connection if the process dies;
 * - a migration is recorded as started (applied_at NULL) before its first statement and as applied
 *   after its last; one interrupted in between is resumed by the next migrate(), which skips the
 *   statements that already took effect (an "already exists" error) and runs the rest.
 */
async function migrate(session: DriverSession, table: TableName): Promise<number[]> {
  return session(async (connection) => {
    const lockName = await migrateLockName(connection, table);
    const { rows } = await connection.query(adHoc('SELECT GET_LOCK(?, ?) AS acquired'), [
      lockName,
      migrateLockTimeoutSeconds,
    ]);
    if (Number(rows[0]?.['acquired']) !== 1) {
      throw new DatabaseError(
        `migrate: another process has been migrating ${quoteTable(table)} for ${migrateLockTimeoutSeconds} s (named lock ${lockName}); try again once it is done`,
      );
    }
    try {
      return await migrateLocked(connection, table);
    } finally {
      await connection.query(adHoc('SELECT RELEASE_LOCK(?)'), [lockName]).catch(() => undefined);
    }
  });
}

async function migrateLocked(connection: SqlConnection, table: TableName): Promise<number[]> {
  if (table.schema !== null) {
    const { rows } = await connection.query(
      adHoc('SELECT 1 AS present FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?'),
      [table.schema],
    );
    if (rows.length === 0) {
      await connection.query(
        adHoc(`CREATE DATABASE IF NOT EXISTS \`${table.schema}\` CHARACTER SET utf8mb4`),
        [],
      );
    }
  }
  await connection.query(
    adHoc(`CREATE TABLE IF NOT EXISTS ${migrationsTable(table)} (
      version INT NOT NULL PRIMARY KEY,
      name VARCHAR(255) NOT NULL,
      breaking TINYINT(1) NOT NULL DEFAULT 0,
      started_at DATETIME(3) NOT NULL,
      applied_at DATETIME(3) NULL
    ) ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`),
    [],
  );
  const state = await readState(connection, table);
  if (state.breakingUnknown.length > 0) throw newerSchemaError(table, state);
  const { rows: started } = await connection.query(
    adHoc(`SELECT version FROM ${migrationsTable(table)} WHERE applied_at IS NULL`),
    [],
  );
  const interrupted = new Set(started.map((row) => Number(row['version'])));
  const done = new Set(state.applied);
  const applied: number[] = [];
  for (const migration of migrations) {
    if (done.has(migration.version)) continue;
    const resuming = interrupted.has(migration.version);
    if (!resuming) {
      await connection.query(
        adHoc(
          `INSERT INTO ${migrationsTable(table)} (version, name, breaking, started_at)
           VALUES (?, ?, ?, UTC_TIMESTAMP(3))`,
        ),
        [migration.version, migration.name, migration.breaking ? 1 : 0],
      );
    }
    for (const statement of render(migration, table)) {
      try {
        await connection.query(adHoc(statement), []);
      } catch (error) {
        if (resuming && alreadyDone.has(errnoOf(error) as number)) continue;
        throw error;
      }
    }
    await connection.query(
      adHoc(`UPDATE ${migrationsTable(table)} SET applied_at = UTC_TIMESTAMP(3) WHERE version = ?`),
      [migration.version],
    );
    applied.push(migration.version);
  }
  return applied;
}

/**
 * The GET_LOCK name for one table. Named locks are server-wide and at most 64 characters, so the
 * database-qualified table name (the session's database when none is given) is hashed.
 */
async function migrateLockName(connection: SqlConnection, table: TableName): Promise<string> {
  const { rows } = await connection.query(
    adHoc(
      `SELECT CONCAT('async_task:', LEFT(SHA2(CONCAT(COALESCE(?, DATABASE(), ''), '.', ?), 256), 40)) AS name`,
    ),
    [table.schema, table.name],
  );
  return String(rows[0]?.['name']);
}

export function newerSchemaError(table: TableName, state: SchemaState): SchemaOutdatedError {
  return new SchemaOutdatedError(
    `table ${quoteTable(table)} has migration(s) ${state.breakingUnknown.join(', ')} from a newer async-task that this version (schema ${latestVersion}) cannot run against; upgrade async-task`,
  );
}

/**
 * The MySQL / MariaDB dialect: MySQL 8.0.13+ or MariaDB 10.6+ (SKIP LOCKED, JSON_TABLE,
 * expression defaults), InnoDB. Tested on MariaDB 10.11. Times are DATETIME(3) in UTC, ids
 * BIGINT UNSIGNED (returned as strings). `schema.name` names a table in another database.
 */
export const mysqlDialect: Dialect = {
  name: 'mysql',
  // Identifiers may have 64 characters, more than the table-name pattern allows; index names are
  // per table, and the one derived name (the migrations table) is shortened with a hash.
  tableNameLimit: null,
  latestVersion,
  executor: (connection, table) => new MysqlExecutor(connection, table),
  migrate,
  schemaState: readState,
  // MySQL cannot notify another connection: workers poll.
  notifyChannel: () => null,
};
