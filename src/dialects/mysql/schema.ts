import { createHash } from 'node:crypto';
import { ConfigError, DatabaseError } from '../../core/errors.js';
import type { TableName } from '../../seam/driver.js';
import type { SqlConnection } from '../../seam/sql-connection.js';
import {
  besideTable,
  legacyRecord,
  renderStatements,
  type InstalledObject,
  type MigrateSteps,
  workersColumns,
} from '../migrate.js';
import type { MigrationFile } from '../migration-files.js';
import { markerText, parseMarker } from '../schema-marker.js';
import { adHoc } from '../statements.js';
import {
  enqueueProcedure,
  flowTable,
  quoteTable,
  startsTable,
  workersTable,
} from './bound-statements.js';
import { mysqlLockWait } from './lock-wait.js';
import { checkSession } from './session-check.js';

/** How long migrate() waits for another process's migrate() to finish. */
const migrateLockTimeoutSeconds = 600;

/**
 * async-task 0.1's bookkeeping table: `<name>_migrations`, unless that would pass MySQL's
 * 64-character limit on identifiers: then the name was cut and a hash of the whole kept it unique.
 */
function legacyTableName(table: TableName): string {
  const name = `${table.name}_migrations`;
  if (name.length <= 64) return name;
  const hash = createHash('sha1').update(table.name).digest('hex').slice(0, 8);
  return `${table.name.slice(0, 64 - '_migrations'.length - 9)}_${hash}_migrations`;
}

function legacyTable(table: TableName): string {
  return quoteTable({ schema: table.schema, name: legacyTableName(table) });
}

/** The comment of a table (the session's database when it names none), or undefined without one. */
async function tableComment(
  connection: SqlConnection,
  schema: string | null,
  name: string,
): Promise<string | undefined> {
  const { rows } = await connection.query(
    adHoc(
      `SELECT TABLE_COMMENT AS comment FROM information_schema.TABLES
       WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?`,
    ),
    [schema, name],
  );
  return rows.length === 0 ? undefined : String((rows[0]?.['comment'] as string | null) ?? '');
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
 * MySQL's steps. Every DDL statement commits on its own (no transactional DDL), so:
 * - a named lock (GET_LOCK, held by this session) serialises migrate() across processes; it goes
 *   away with the connection if the process dies;
 * - the version is the table's comment, set by the migration's own last statement where that is a
 *   CREATE TABLE or ALTER TABLE (one atomic statement: our migrations are one each); a migration
 *   of several statements is marked as applying first, and one interrupted in between is resumed
 *   by the next migrate(), which skips the statements that already took effect.
 */
export function mysqlSteps(migrations: readonly MigrationFile[]): MigrateSteps {
  return {
    migrations,
    quoted: quoteTable,
    lock: (session, table, fn) => session((connection) => withMigrateLock(connection, table, fn)),
    lockWait: mysqlLockWait,
    async prepare(connection, table) {
      await refuseCaseTwin(connection, table);
      if (table.schema === null) return;
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
    },
    // The database is the user's to create, as for their other tables.
    preamble: () => [],
    async readMarker(connection, table) {
      const comment = await tableComment(connection, table.schema, table.name);
      return comment === undefined ? 'absent' : parseMarker(comment);
    },
    async readLegacy(connection, table) {
      if ((await tableComment(connection, table.schema, legacyTableName(table))) === undefined) {
        return null;
      }
      const { rows } = await connection.query(
        adHoc(`SELECT version, applied_at IS NOT NULL AS done FROM ${legacyTable(table)}`),
        [],
      );
      return legacyRecord(rows);
    },
    async installed(connection, table) {
      const objects: InstalledObject[] = [];
      if ((await tableComment(connection, table.schema, table.name)) !== undefined) {
        const quoted = quoteTable(table);
        objects.push({ label: `table ${quoted}`, drop: `DROP TABLE ${quoted}` });
      }
      const beside: [string, readonly string[]][] = [
        [flowTable(table).name, ['queue']],
        [startsTable(table).name, ['id', 'queue', 'concurrency_key', 'started_at']],
        [workersTable(table).name, workersColumns],
        [legacyTableName(table), ['version', 'name', 'breaking', 'started_at', 'applied_at']],
      ];
      for (const [name, expected] of beside) {
        const { rows } = await connection.query(
          adHoc(
            `SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS
             WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?`,
          ),
          [table.schema, name],
        );
        if (rows.length === 0) continue;
        const quoted = quoteTable({ schema: table.schema, name });
        const columns = rows.map((row) => String(row['name']));
        objects.push(besideTable(`table ${quoted}`, `DROP TABLE ${quoted}`, columns, expected));
      }
      // The procedure of 0007 outlives a dropped table: found by name.
      const procedure = enqueueProcedure(table);
      const { rows } = await connection.query(
        adHoc(
          `SELECT 1 AS present FROM information_schema.ROUTINES
           WHERE ROUTINE_SCHEMA = COALESCE(?, DATABASE()) AND ROUTINE_NAME = ?
             AND ROUTINE_TYPE = 'PROCEDURE'`,
        ),
        [procedure.schema, procedure.name],
      );
      if (rows.length > 0) {
        const quoted = quoteTable(procedure);
        objects.push({ label: `procedure ${quoted}`, drop: `DROP PROCEDURE IF EXISTS ${quoted}` });
      }
      return objects;
    },
    statements: (sql, table) =>
      renderStatements(sql, {
        '{{table}}': quoteTable(table),
        '{{flow}}': quoteTable(flowTable(table)),
        '{{starts}}': quoteTable(startsTable(table)),
        '{{workers}}': quoteTable(workersTable(table)),
        '{{enqueue}}': quoteTable(enqueueProcedure(table)),
      }),
    marked(table, statements, marker) {
      const comment = `COMMENT = '${markerText(marker)}'`;
      const last = statements.at(-1);
      const quoted = quoteTable(table);
      if (last?.startsWith(`ALTER TABLE ${quoted} `) === true) {
        return [...statements.slice(0, -1), `${last}, ${comment}`];
      }
      if (last?.startsWith(`CREATE TABLE ${quoted} `) === true) {
        return [...statements.slice(0, -1), `${last} ${comment}`];
      }
      return [...statements, `ALTER TABLE ${quoted} ${comment}`];
    },
    dropLegacy: (table) => `DROP TABLE IF EXISTS ${legacyTable(table)}`,
    resumable: { alreadyDone: (error) => alreadyDone.has(errnoOf(error) as number) },
  };
}

/**
 * Refuses a table whose name differs only in letter case from an async-task table of the same
 * database: table names keep their case on Linux, routine names never do, so both tables'
 * `<table>_enqueue` procedures would be one, and the second migrate() would take the first's
 * (its SQL enqueues then landing in the other table).
 */
async function refuseCaseTwin(connection: SqlConnection, table: TableName): Promise<void> {
  const { rows } = await connection.query(
    adHoc(
      `SELECT TABLE_NAME AS name FROM information_schema.TABLES
       WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND LOWER(TABLE_NAME) = LOWER(?)
         AND CAST(TABLE_NAME AS BINARY) <> CAST(? AS BINARY)
         AND TABLE_COMMENT LIKE 'async-task schema %'`,
    ),
    [table.schema, table.name, table.name],
  );
  if (rows.length === 0) return;
  const twin = String(rows[0]!['name']);
  throw new ConfigError(
    `migrate: table ${quoteTable(table)} and async-task's table \`${twin}\` differ only in letter case: MySQL's procedure names ignore case, so their SQL enqueue procedures (<table>_enqueue) would be one, and enqueues through it would land in the wrong table; give this table a name of its own`,
  );
}

/** Runs `fn` holding the table's named migrate lock (GET_LOCK) on this session. */
async function withMigrateLock<T>(
  connection: SqlConnection,
  table: TableName,
  fn: (connection: SqlConnection) => Promise<T>,
): Promise<T> {
  await checkSession(connection);
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
