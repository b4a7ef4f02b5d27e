import type { SchemaOutdatedError } from '../core/errors.js';
import type { DriverSession, TableName } from '../seam/driver.js';
import type { SchemaState } from '../seam/executor.js';
import type { SqlConnection } from '../seam/sql-connection.js';
import type { MigrationFile } from './migration-files.js';
import { adHoc, fill } from './statements.js';

/** What one dialect does at each step of {@link migrateTable}. */
export interface MigrateSteps {
  readonly migrations: readonly MigrationFile[];
  /** Runs `fn` holding what serialises migrate() on this table across processes. */
  lock<T>(
    session: DriverSession,
    table: TableName,
    fn: (connection: SqlConnection) => Promise<T>,
  ): Promise<T>;
  /** Creates the schema (where there is one to create) and the bookkeeping table, if missing. */
  createBookkeeping(connection: SqlConnection, table: TableName): Promise<void>;
  readState(connection: SqlConnection, table: TableName): Promise<SchemaState>;
  newerSchemaError(table: TableName, state: SchemaState): SchemaOutdatedError;
  /** The statements of a migration, in order, with the table filled in. */
  render(migration: MigrationFile, table: TableName): readonly string[];
  /** Records the migration as applied, once its statements ran. */
  record(connection: SqlConnection, table: TableName, migration: MigrationFile): Promise<void>;
  /**
   * Where every DDL statement commits on its own (MySQL): a migration is recorded as started
   * before its first statement, and one interrupted in between is resumed, its statements that
   * already took effect skipped.
   */
  readonly resumable?: {
    /** Versions recorded as started and never as applied. */
    interrupted(connection: SqlConnection, table: TableName): Promise<ReadonlySet<number>>;
    start(connection: SqlConnection, table: TableName, migration: MigrationFile): Promise<void>;
    /** Whether a statement's error says it already happened (tolerated only when resuming). */
    alreadyDone(error: unknown): boolean;
  };
}

/**
 * Applies the missing migrations, the one procedure of every dialect: take the lock, create the
 * bookkeeping table, read what is applied, refuse a schema with breaking migrations from a newer
 * async-task, then apply each missing migration in order and record it. Returns the versions
 * applied now.
 */
export async function migrateTable(
  steps: MigrateSteps,
  session: DriverSession,
  table: TableName,
): Promise<number[]> {
  return steps.lock(session, table, async (connection) => {
    await steps.createBookkeeping(connection, table);
    const state = await steps.readState(connection, table);
    if (state.breakingUnknown.length > 0) throw steps.newerSchemaError(table, state);
    const { resumable } = steps;
    const interrupted = resumable ? await resumable.interrupted(connection, table) : null;
    const done = new Set(state.applied);
    const applied: number[] = [];
    for (const migration of steps.migrations) {
      if (done.has(migration.version)) continue;
      const resuming = interrupted?.has(migration.version) === true;
      if (resumable && !resuming) await resumable.start(connection, table, migration);
      for (const statement of steps.render(migration, table)) {
        try {
          await connection.query(adHoc(statement), []);
        } catch (error) {
          if (resuming && resumable?.alreadyDone(error) === true) continue;
          throw error;
        }
      }
      await steps.record(connection, table, migration);
      applied.push(migration.version);
    }
    return applied;
  });
}

/**
 * What is applied, from the bookkeeping table: `select` reads its `version` and `breaking`
 * columns. A missing table (`isMissingTable` of the error) means nothing is applied.
 */
export async function readSchemaState(
  connection: SqlConnection,
  select: string,
  latestVersion: number,
  isMissingTable: (error: unknown) => boolean,
): Promise<SchemaState> {
  let rows: readonly Record<string, unknown>[];
  try {
    ({ rows } = await connection.query(adHoc(select), []));
  } catch (error) {
    if (isMissingTable(error)) return { applied: [], breakingUnknown: [] };
    throw error;
  }
  return schemaState(rows, latestVersion);
}

/** Rows of `version` and `breaking` (a boolean, or 0/1) as a SchemaState. */
export function schemaState(
  rows: readonly Record<string, unknown>[],
  latestVersion: number,
): SchemaState {
  const applied = rows.map((row) => Number(row['version']));
  const breakingUnknown = rows
    .filter((row) => Number(row['version']) > latestVersion && Number(row['breaking']) === 1)
    .map((row) => Number(row['version']));
  return { applied, breakingUnknown };
}

/**
 * A migration file's text with its placeholders filled in, split into statements for clients
 * that prepare one at a time: comment lines are dropped and the text is cut where a line ends
 * with `;` (our files keep to that, and no comment line ends with one).
 */
export function renderStatements(
  migration: MigrationFile,
  substitutions: Readonly<Record<string, string>>,
): string[] {
  return fill(migration.sql, substitutions)
    .split('\n')
    .filter((line) => !/^\s*--/.test(line))
    .join('\n')
    .split(/;[ \t]*$/m)
    .map((statement) => statement.trim())
    .filter((statement) => statement !== '');
}
