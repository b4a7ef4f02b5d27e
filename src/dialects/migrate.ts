import { SchemaOutdatedError } from '../core/errors.js';
import type { DriverSession, MigrationScript, TableName } from '../seam/driver.js';
import type { SchemaState } from '../seam/executor.js';
import type { SqlConnection } from '../seam/sql-connection.js';
import { retryingLockWaits, type LockWaitSteps } from './migrate-lock-wait.js';
import type { MigrationFile } from './migration-files.js';
import { markerAt, type SchemaMarker } from './schema-marker.js';
import { adHoc, fill } from './statements.js';

/** Something async-task created for a table, found in the catalog, and the statement removing it. */
export interface InstalledObject {
  /** e.g. `table "app"."jobs"`, `function "app"."jobs_claim"(…)`. */
  readonly label: string;
  readonly drop: string;
  /**
   * A table that bears one of the names async-task gives the tables beside the attempts table
   * (`<name>_workers`, …) without the columns async-task gives it: the user's own, never dropped.
   */
  readonly foreign?: true;
}

/**
 * A table found under one of the names of the tables async-task creates beside the attempts table:
 * async-task's if its columns are those of `expected` (in any order), else marked foreign.
 */
export function besideTable(
  label: string,
  drop: string,
  columns: readonly string[],
  expected: readonly string[],
): InstalledObject {
  const ours =
    columns.length === expected.length && expected.every((column) => columns.includes(column));
  return ours ? { label, drop } : { label, drop, foreign: true };
}

/** The columns of the registry of workers, as every dialect's migration creates it. */
export const workersColumns = [
  'id',
  'hostname',
  'pid',
  'queues',
  'concurrency',
  'running',
  'started_at',
  'last_seen_at',
  'alive_until',
] as const;

/** What one dialect does at each step of {@link migrateTable} and {@link uninstallTable}. */
export interface MigrateSteps {
  readonly migrations: readonly MigrationFile[];
  /** The table as it appears in messages. */
  quoted(table: TableName): string;
  /** Runs `fn` holding what serialises migrate() on this table across processes. */
  lock<T>(
    session: DriverSession,
    table: TableName,
    fn: (connection: SqlConnection) => Promise<T>,
  ): Promise<T>;
  /** Statements creating the schema the table lives in, where there is one to create. */
  prepare(connection: SqlConnection, table: TableName): Promise<void>;
  /** The table's schema marker; null when the table has none; 'absent' when there is no table. */
  readMarker(connection: SqlConnection, table: TableName): Promise<SchemaMarker | null | 'absent'>;
  /**
   * async-task 0.1 kept its versions in a table of their own (`<name>_migrations`): what it
   * records, or null where there is none.
   */
  readLegacy(connection: SqlConnection, table: TableName): Promise<LegacyRecord | null>;
  /** What exists now of what migrations (and async-task 0.1's bookkeeping) create, in drop order. */
  installed(connection: SqlConnection, table: TableName): Promise<InstalledObject[]>;
  /** The statements of a migration's file (or its down file), with the table filled in. */
  statements(sql: string, table: TableName): readonly string[];
  /**
   * `statements` (a migration's, or none) with the table's marker set to `marker` as they end:
   * a statement added, or the last statement made to carry it where the dialect can.
   */
  marked(table: TableName, statements: readonly string[], marker: SchemaMarker): string[];
  /** The statement dropping async-task 0.1's bookkeeping table (IF EXISTS). */
  dropLegacy(table: TableName): string;
  /** Statements that must come before migration 1 when a tool of the user's applies it. */
  preamble(table: TableName): readonly string[];
  /**
   * Where every DDL statement commits on its own (MySQL): a migration of several statements is
   * marked as applying before its first statement, and one interrupted in between is resumed, its
   * statements that already took effect skipped.
   */
  readonly resumable?: {
    /** Whether a statement's error says it already happened (tolerated only when resuming). */
    alreadyDone(error: unknown): boolean;
  };
  /** Where DDL waits for the table's lock, how that wait is bounded (not SQLite: one writer). */
  readonly lockWait?: LockWaitSteps;
}

export interface MigrateOptions {
  /** How long, in all, migrate() goes on trying when a session holds the table (see lockWait). */
  readonly lockWaitMs: number;
}

/** Rows of async-task 0.1's bookkeeping table. */
export interface LegacyRecord {
  readonly applied: readonly number[];
  /** Recorded as started and never as applied (MySQL). */
  readonly interrupted: readonly number[];
}

/** async-task 0.1's bookkeeping rows (`version`, and `done`: a boolean or 0/1) as a record. */
export function legacyRecord(rows: readonly Record<string, unknown>[]): LegacyRecord {
  const done = (row: Record<string, unknown>): boolean =>
    Number(row['done']) === 1 || row['done'] === true;
  return {
    applied: rows.filter(done).map((row) => Number(row['version'])),
    interrupted: rows.filter((row) => !done(row)).map((row) => Number(row['version'])),
  };
}

/**
 * Applies the missing migrations, the one procedure of every dialect: take the lock, read the
 * version the table carries (a table that is gone takes its version along, and whatever it left
 * behind is removed first; a table of async-task 0.1 has its bookkeeping adopted), refuse a schema
 * with breaking migrations from a newer async-task, then apply each missing migration in order,
 * each setting the table's version as it ends. Returns the versions applied now. Where a session
 * holds the table, each try waits for its lock briefly and the whole is tried again
 * (migrate-lock-wait.ts).
 */
export async function migrateTable(
  steps: MigrateSteps,
  session: DriverSession,
  table: TableName,
  options: MigrateOptions,
): Promise<number[]> {
  let blocked: number | null = null;
  const describe = {
    quoted: steps.quoted(table),
    transactional: steps.resumable === undefined,
    blocked: () => blocked,
  };
  return retryingLockWaits(steps.lockWait, options.lockWaitMs, session, table, describe, (tryMs) =>
    steps.lock(session, table, async (connection) => {
      await steps.prepare(connection, table);
      const restore = await steps.lockWait?.limit(connection, tryMs);
      try {
        let marker = await startingMarker(steps, connection, table);
        const latest = latestOf(steps.migrations);
        if (marker.breaking > latest) {
          throw newerSchemaError(steps.quoted(table), [marker.breaking], latest);
        }
        const applied: number[] = [];
        for (const migration of steps.migrations) {
          if (migration.version <= marker.version) continue;
          blocked = migration.version;
          await applyMigration(steps, connection, table, marker, migration);
          marker = markerAt(steps.migrations, migration.version);
          applied.push(migration.version);
        }
        return applied;
      } finally {
        await restore?.();
      }
    }),
  );
}

async function applyMigration(
  steps: MigrateSteps,
  connection: SqlConnection,
  table: TableName,
  marker: SchemaMarker,
  migration: MigrationFile,
): Promise<void> {
  const target = markerAt(steps.migrations, migration.version);
  const statements = migrationStatements(steps, migration, table, target);
  const resuming = marker.applying === migration.version;
  if (steps.resumable && statements.length > 1 && marker.version > 0 && !resuming) {
    const applying = { ...marker, applying: migration.version };
    await runAll(connection, steps.marked(table, [], applying));
  }
  for (const statement of statements) {
    try {
      await connection.query(adHoc(statement), []);
    } catch (error) {
      if (resuming && steps.resumable?.alreadyDone(error) === true) continue;
      throw error;
    }
  }
  // The marker rides on the migration's last statement; when resuming skipped that statement
  // as already done, the marker was not written with it.
  if (resuming) await runAll(connection, steps.marked(table, [], target));
}

/**
 * Removes the table and everything created with it; returns what it removed. A table async-task
 * did not create (no marker, no 0.1 bookkeeping), or a foreign table under one of the names of
 * those beside it, is refused before anything is dropped: a mistyped `table` must not cost the
 * user a table of theirs.
 */
export async function uninstallTable(
  steps: MigrateSteps,
  session: DriverSession,
  table: TableName,
): Promise<string[]> {
  return steps.lock(session, table, async (connection) => {
    const objects = await installedOwn(steps, connection, table);
    const marker = await steps.readMarker(connection, table);
    if (marker === null && (await steps.readLegacy(connection, table)) === null) {
      throw notCreatedError(steps, table, 'uninstall leaves it alone');
    }
    await runAll(
      connection,
      objects.map((object) => object.drop),
    );
    return objects.map((object) => object.label);
  });
}

/** What is applied, from the table's marker, without changing anything. */
export async function readSchemaState(
  steps: MigrateSteps,
  connection: SqlConnection,
  table: TableName,
): Promise<SchemaState> {
  const marker = await steps.readMarker(connection, table);
  if (marker === 'absent') return { version: 0, breakingUnknown: [] };
  if (marker === null) return { version: null, breakingUnknown: [] };
  const latest = latestOf(steps.migrations);
  return {
    version: marker.version,
    breakingUnknown: marker.breaking > latest ? [marker.breaking] : [],
  };
}

/** Every migration as statements for a migration tool of the user's. */
export function migrationScripts(steps: MigrateSteps, table: TableName): MigrationScript[] {
  return steps.migrations.map((migration) => {
    const up = migrationStatements(
      steps,
      migration,
      table,
      markerAt(steps.migrations, migration.version),
    );
    const before = markerAt(steps.migrations, migration.version - 1);
    let down: string[] = [];
    if (migration.down !== null) {
      const undo = [...steps.statements(migration.down, table)];
      down = migration.version === 1 ? undo : steps.marked(table, undo, before);
    }
    return {
      version: migration.version,
      name: migration.name,
      up: migration.version === 1 ? [...steps.preamble(table), ...up] : up,
      down,
    };
  });
}

/** A migration's statements, setting the table's marker as they end. */
function migrationStatements(
  steps: MigrateSteps,
  migration: MigrationFile,
  table: TableName,
  marker: SchemaMarker,
): string[] {
  return steps.marked(table, steps.statements(migration.sql, table), marker);
}

/**
 * The marker to migrate from. No table: whatever a dropped one left behind goes first, and the
 * table is created afresh. A table without a marker: async-task 0.1's bookkeeping is adopted
 * into it (and dropped), or, when there is none, the table is not ours.
 */
async function startingMarker(
  steps: MigrateSteps,
  connection: SqlConnection,
  table: TableName,
): Promise<SchemaMarker> {
  const found = await steps.readMarker(connection, table);
  if (found === 'absent') {
    await removeAll(steps, connection, table);
    return markerAt(steps.migrations, 0);
  }
  if (found !== null) return found;
  const legacy = await steps.readLegacy(connection, table);
  if (legacy === null) {
    throw notCreatedError(
      steps,
      table,
      'give AsyncTask another `table`, or drop this one if it is a leftover',
    );
  }
  let version = 0;
  while (legacy.applied.includes(version + 1)) version++;
  const interrupted = legacy.interrupted.find((v) => v === version + 1) ?? null;
  const marker = markerAt(steps.migrations, version, interrupted);
  await runAll(connection, [...steps.marked(table, [], marker), steps.dropLegacy(table)]);
  return marker;
}

async function removeAll(
  steps: MigrateSteps,
  connection: SqlConnection,
  table: TableName,
): Promise<void> {
  const objects = await installedOwn(steps, connection, table);
  await runAll(
    connection,
    objects.map((object) => object.drop),
  );
}

/** What is installed for `table`; refused, before anything changes, when a foreign table is. */
async function installedOwn(
  steps: MigrateSteps,
  connection: SqlConnection,
  table: TableName,
): Promise<InstalledObject[]> {
  const objects = await steps.installed(connection, table);
  const foreign = objects.filter((object) => object.foreign === true);
  if (foreign.length > 0) {
    throw new SchemaOutdatedError(
      `${foreign.map((object) => object.label).join(', ')} beside table ${steps.quoted(table)} ${foreign.length === 1 ? 'was' : 'were'} not created by async-task (the columns are not the ones it gives such a table), and async-task needs the name: rename ${foreign.length === 1 ? 'it' : 'them'}, or give AsyncTask another \`table\`. Nothing was changed`,
    );
  }
  return objects;
}

function notCreatedError(
  steps: MigrateSteps,
  table: TableName,
  advice: string,
): SchemaOutdatedError {
  return new SchemaOutdatedError(
    `table ${steps.quoted(table)} exists but carries no async-task schema version (in its comment, or a trigger on SQLite), and there is no ${table.name}_migrations table beside it: async-task did not create it; ${advice} (if it is async-task's table and only its version was lost, by a restore without comments or a COMMENT of your own, give it back as each migration file's last statement records it (\`async-task migrations --format sql\` writes them): 'async-task schema <n>', <n> the version the table had, ${latestOf(steps.migrations)} for this async-task's latest)`,
  );
}

async function runAll(connection: SqlConnection, statements: readonly string[]): Promise<void> {
  for (const statement of statements) await connection.query(adHoc(statement), []);
}

function latestOf(migrations: readonly MigrationFile[]): number {
  return Math.max(...migrations.map((migration) => migration.version));
}

/** The table carries breaking migrations this code does not know. */
export function newerSchemaError(
  quotedTable: string,
  breakingUnknown: readonly number[],
  latestVersion: number,
): SchemaOutdatedError {
  return new SchemaOutdatedError(
    `table ${quotedTable} has migration(s) ${breakingUnknown.join(', ')} from a newer async-task that this version (schema ${latestVersion}) cannot run against; upgrade async-task`,
  );
}

/**
 * A migration file's text with its placeholders filled in, split into statements for clients
 * that prepare one at a time: comment lines are dropped and the text is cut where a line ends
 * with `;` outside a body (our files keep to that, and no comment line ends with one). A body is
 * PostgreSQL's `$$ … $$`, or a MySQL compound statement's, from a line `BEGIN` to a line `END;`
 * (unindented, and alone on their lines: the blocks nested inside are indented), which MySQL has
 * no other way to delimit; its comment lines are dropped too.
 */
export function renderStatements(
  sql: string,
  substitutions: Readonly<Record<string, string>>,
): string[] {
  const statements: string[] = [];
  let current: string[] = [];
  let inBody = false;
  let inBlock = false;
  for (const line of fill(sql, substitutions).split('\n')) {
    if (!inBody && /^\s*--/.test(line)) continue;
    if ((line.match(/\$\$/g)?.length ?? 0) % 2 === 1) inBody = !inBody;
    if (!inBody && line === 'BEGIN') inBlock = true;
    if (inBlock && line === 'END;') inBlock = false;
    if (!inBody && !inBlock && /;[ \t]*$/.test(line)) {
      current.push(line.replace(/;[ \t]*$/, ''));
      statements.push(current.join('\n').trim());
      current = [];
    } else {
      current.push(line);
    }
  }
  statements.push(current.join('\n').trim());
  return statements.filter((statement) => statement !== '');
}
