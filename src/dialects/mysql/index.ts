import { createHash } from 'node:crypto';
import { DatabaseError } from '../../core/errors.js';
import type { Dialect, TableName } from '../../seam/driver.js';
import type { SchemaState } from '../../seam/executor.js';
import type { SqlConnection } from '../../seam/sql-connection.js';
import { newerSchemaError } from '../dialect-errors.js';
import { migrateTable, readSchemaState, renderStatements, type MigrateSteps } from '../migrate.js';
import { loadMigrations } from '../migration-files.js';
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

function readState(connection: SqlConnection, table: TableName): Promise<SchemaState> {
  return readSchemaState(
    connection,
    `SELECT version, breaking FROM ${migrationsTable(table)}
         WHERE applied_at IS NOT NULL ORDER BY version`,
    latestVersion,
    isNoSuchTable,
  );
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
const steps: MigrateSteps = {
  migrations,
  lock: (session, table, fn) => session((connection) => withMigrateLock(connection, table, fn)),
  async createBookkeeping(connection, table) {
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
  },
  readState,
  newerSchemaError: (table, state) => newerSchemaError(quoteTable(table), state, latestVersion),
  render: (migration, table) => renderStatements(migration, { '{{table}}': quoteTable(table) }),
  async record(connection, table, migration) {
    await connection.query(
      adHoc(`UPDATE ${migrationsTable(table)} SET applied_at = UTC_TIMESTAMP(3) WHERE version = ?`),
      [migration.version],
    );
  },
  resumable: {
    async interrupted(connection, table) {
      const { rows } = await connection.query(
        adHoc(`SELECT version FROM ${migrationsTable(table)} WHERE applied_at IS NULL`),
        [],
      );
      return new Set(rows.map((row) => Number(row['version'])));
    },
    async start(connection, table, migration) {
      await connection.query(
        adHoc(
          `INSERT INTO ${migrationsTable(table)} (version, name, breaking, started_at)
           VALUES (?, ?, ?, UTC_TIMESTAMP(3))`,
        ),
        [migration.version, migration.name, migration.breaking ? 1 : 0],
      );
    },
    alreadyDone: (error) => alreadyDone.has(errnoOf(error) as number),
  },
};

/** Runs `fn` holding the table's named migrate lock (GET_LOCK) on this session. */
async function withMigrateLock<T>(
  connection: SqlConnection,
  table: TableName,
  fn: (connection: SqlConnection) => Promise<T>,
): Promise<T> {
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
    return await fn(connection);
  } finally {
    await connection.query(adHoc('SELECT RELEASE_LOCK(?)'), [lockName]).catch(() => undefined);
  }
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
  migrate: (session, table) => migrateTable(steps, session, table),
  schemaState: readState,
  // MySQL cannot notify another connection: workers poll.
  notifyChannel: () => null,
};
