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
import { checkTable, quoteTable } from './executor.js';

/** async-task 0.1's bookkeeping table. */
function legacyTableName(table: TableName): string {
  return `${table.name}_migrations`;
}

/**
 * SQLite tables have no comment: the version is the text of a trigger of the table's, which goes
 * with the table when it is dropped. It never fires (nothing updates an attempt's id), and a
 * trigger on `UPDATE OF id` costs no other statement anything.
 */
function markerTrigger(table: TableName): string {
  return `"${table.name}_schema_version"`;
}

/** The `sql` of a schema object, or undefined when there is none. */
async function schemaSql(
  connection: SqlConnection,
  type: 'table' | 'trigger',
  name: string,
): Promise<string | undefined> {
  const { rows } = await connection.query(
    adHoc('SELECT sql FROM sqlite_schema WHERE type = ? AND name = ? COLLATE NOCASE'),
    [type, name],
  );
  return rows.length === 0 ? undefined : String((rows[0]?.['sql'] as string | null) ?? '');
}

/**
 * SQLite's steps. The transaction takes the write lock as it begins: concurrent migrate() calls
 * (other connections or processes) wait for it, then see what the first one applied. DDL is
 * transactional in SQLite, so a failed migration leaves nothing behind.
 */
export function sqliteSteps(migrations: readonly MigrationFile[]): MigrateSteps {
  return {
    migrations,
    quoted: quoteTable,
    lock: (session, table, fn) => {
      checkTable(table);
      return session((own) => own.transaction(fn));
    },
    prepare: () => Promise.resolve(),
    preamble: () => [],
    async readMarker(connection, table) {
      checkTable(table);
      if ((await schemaSql(connection, 'table', table.name)) === undefined) return 'absent';
      const trigger = await schemaSql(connection, 'trigger', `${table.name}_schema_version`);
      return parseMarker(/'([^']*)'/.exec(trigger ?? '')?.[1]);
    },
    async readLegacy(connection, table) {
      if ((await schemaSql(connection, 'table', legacyTableName(table))) === undefined) return null;
      const { rows } = await connection.query(
        adHoc(`SELECT version, 1 AS done FROM "${legacyTableName(table)}"`),
        [],
      );
      return legacyRecord(rows);
    },
    async installed(connection, table) {
      const objects: InstalledObject[] = [];
      // Indexes and triggers go with their table.
      if ((await schemaSql(connection, 'table', table.name)) !== undefined) {
        objects.push({ label: `table "${table.name}"`, drop: `DROP TABLE "${table.name}"` });
      }
      const beside: [string, readonly string[]][] = [
        [`${table.name}_starts`, ['queue', 'concurrency_key', 'started_at']],
        [`${table.name}_workers`, workersColumns],
        [legacyTableName(table), ['version', 'name', 'breaking', 'applied_at']],
      ];
      for (const [name, expected] of beside) {
        if ((await schemaSql(connection, 'table', name)) === undefined) continue;
        const { rows } = await connection.query(adHoc('SELECT name FROM pragma_table_info(?)'), [
          name,
        ]);
        const columns = rows.map((row) => String(row['name']));
        objects.push(besideTable(`table "${name}"`, `DROP TABLE "${name}"`, columns, expected));
      }
      return objects;
    },
    statements: (sql, table) =>
      renderStatements(sql, { '{{table}}': quoteTable(table), '{{name}}': table.name }),
    marked: (table, statements, marker) => [
      ...statements,
      `DROP TRIGGER IF EXISTS ${markerTrigger(table)}`,
      // One line: the statement splitter cuts at a `;` that ends a line.
      `CREATE TRIGGER ${markerTrigger(table)} BEFORE UPDATE OF id ON ${quoteTable(table)} BEGIN SELECT '${markerText(marker)}'; END`,
    ],
    dropLegacy: (table) => `DROP TABLE IF EXISTS "${legacyTableName(table)}"`,
  };
}
