import type { MigrationFile } from './migration-files.js';

/**
 * The schema version, kept with the table itself (PostgreSQL and MySQL: the table's comment;
 * SQLite: a trigger of the table that never fires), so it goes wherever the table goes: a dropped
 * table takes its version with it, and a table restored from a dump brings its version along.
 */
export interface SchemaMarker {
  /** The last migration applied. */
  readonly version: number;
  /**
   * The highest breaking migration applied, 0 if none: code whose latest migration is older than
   * it must not run against the table.
   */
  readonly breaking: number;
  /**
   * A migration that started and did not finish (MySQL, where every DDL statement commits on its
   * own): the next migrate() resumes it.
   */
  readonly applying: number | null;
}

const pattern = /^async-task schema (\d+)(?:, breaking (\d+))?(?:, applying (\d+))?$/;

/** The marker as text: `async-task schema 4`, `async-task schema 3, applying 4`. */
export function markerText(marker: SchemaMarker): string {
  let text = `async-task schema ${marker.version}`;
  if (marker.breaking > 0) text += `, breaking ${marker.breaking}`;
  if (marker.applying !== null) text += `, applying ${marker.applying}`;
  return text;
}

/** The marker in `text`, or null when `text` is not one (no comment, or someone else's). */
export function parseMarker(text: unknown): SchemaMarker | null {
  if (typeof text !== 'string') return null;
  const match = pattern.exec(text.trim());
  if (!match) return null;
  return {
    version: Number(match[1]),
    breaking: match[2] === undefined ? 0 : Number(match[2]),
    applying: match[3] === undefined ? null : Number(match[3]),
  };
}

/** The marker of a table once `version` (of `migrations`) is applied. */
export function markerAt(
  migrations: readonly MigrationFile[],
  version: number,
  applying: number | null = null,
): SchemaMarker {
  const breaking = migrations
    .filter((migration) => migration.breaking && migration.version <= version)
    .reduce((highest, migration) => Math.max(highest, migration.version), 0);
  return { version, breaking, applying };
}
