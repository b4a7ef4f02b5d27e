import type { TableName } from '../../seam/driver.js';
import type { SqlConnection } from '../../seam/sql-connection.js';
import {
  besideTable,
  legacyRecord,
  renderStatements,
  workersColumns,
  type InstalledObject,
  type MigrateSteps,
} from '../migrate.js';
import type { MigrationFile } from '../migration-files.js';
import { markerText, parseMarker } from '../schema-marker.js';
import { adHoc } from '../statements.js';
import { notifyChannel, quoteTable } from './executor.js';
import { postgresLockWait } from './lock-wait.js';

/** async-task 0.1's bookkeeping table. */
function legacyTable(table: TableName): string {
  return quoteTable({ schema: table.schema, name: `${table.name}_migrations` });
}

/** `"schema".` before a name derived from the table's, or nothing in the default schema. */
function schemaPrefix(table: TableName): string {
  return table.schema === null ? '' : `"${table.schema}".`;
}

/** The schema the table lives in, created where it is missing. */
function preamble(table: TableName): string[] {
  return table.schema === null ? [] : [`CREATE SCHEMA IF NOT EXISTS "${table.schema}"`];
}

/** Whether a relation exists (the name quoted as in SQL); asked of the catalog, so no error. */
async function exists(connection: SqlConnection, quoted: string): Promise<boolean> {
  const { rows } = await connection.query(
    adHoc('SELECT to_regclass($1::text) IS NOT NULL AS present'),
    [quoted],
  );
  return rows[0]?.['present'] === true;
}

const startsColumns = ['queue', 'concurrency_key', 'started_at'];
const legacyColumns = ['version', 'name', 'breaking', 'applied_at'];

/** A relation's columns (the name quoted as in SQL), or undefined when there is none. */
async function columnsOf(connection: SqlConnection, quoted: string): Promise<string[] | undefined> {
  if (!(await exists(connection, quoted))) return undefined;
  const { rows } = await connection.query(
    adHoc(
      `SELECT attname AS name FROM pg_attribute
       WHERE attrelid = to_regclass($1::text) AND attnum > 0 AND NOT attisdropped`,
    ),
    [quoted],
  );
  return rows.map((row) => String(row['name']));
}

/** The suffixes of the functions the migrations create (`<name>_claim`, …). */
function functionSuffixes(migrations: readonly MigrationFile[]): string[] {
  const suffixes = new Set<string>();
  for (const migration of migrations) {
    for (const match of migration.sql.matchAll(/FUNCTION \{\{schema\}\}"\{\{name\}\}(\w+)"/g)) {
      suffixes.add(match[1]!);
    }
  }
  return [...suffixes];
}

/**
 * PostgreSQL's steps: DDL is transactional, so a migration (with the comment that records its
 * version) applies whole or not at all, inside one transaction holding an advisory lock.
 */
export function postgresSteps(migrations: readonly MigrationFile[]): MigrateSteps {
  const suffixes = functionSuffixes(migrations);
  return {
    migrations,
    quoted: quoteTable,
    // Transaction-scoped advisory lock: concurrent migrate() calls run one after another, and the
    // lock goes away with the transaction even if this process dies. Called in FROM so the row
    // has a plain column: clients that type every column (Prisma) refuse a `void` one.
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
    async prepare(connection, table) {
      if (table.schema === null) return;
      // CREATE SCHEMA IF NOT EXISTS is not safe against itself: two tables of one new schema
      // migrated at once failed on pg_namespace's unique index. One creates it, the other waits.
      await connection.query(
        adHoc('SELECT true AS locked FROM pg_advisory_xact_lock(hashtext($1))'),
        [`async-task:schema:${table.schema}`],
      );
      for (const statement of preamble(table)) await connection.query(adHoc(statement), []);
    },
    lockWait: postgresLockWait,
    preamble,
    async readMarker(connection, table) {
      const { rows } = await connection.query(
        adHoc(
          `SELECT to_regclass($1::text) IS NOT NULL AS present,
             obj_description(to_regclass($1::text), 'pg_class') AS comment`,
        ),
        [quoteTable(table)],
      );
      if (rows[0]?.['present'] !== true) return 'absent';
      return parseMarker(rows[0]['comment']);
    },
    async readLegacy(connection, table) {
      if (!(await exists(connection, legacyTable(table)))) return null;
      const { rows } = await connection.query(
        adHoc(`SELECT version, true AS done FROM ${legacyTable(table)}`),
        [],
      );
      return legacyRecord(rows);
    },
    async installed(connection, table) {
      const objects: InstalledObject[] = [];
      if (await exists(connection, quoteTable(table))) {
        objects.push({
          label: `table ${quoteTable(table)}`,
          drop: `DROP TABLE ${quoteTable(table)}`,
        });
      }
      // Functions outlive a dropped table: found by name (the names are validated identifiers).
      const names = suffixes.map((suffix) => `'${table.name}${suffix}'`).join(', ');
      const namespace = table.schema === null ? 'current_schema()' : `'${table.schema}'`;
      const { rows } = await connection.query(
        adHoc(
          `SELECT p.oid::regprocedure::text AS signature
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = ${namespace} AND p.proname IN (${names})
           ORDER BY p.proname`,
        ),
        [],
      );
      for (const row of rows) {
        const signature = String(row['signature']);
        const qualified = signature.split('(')[0]!.includes('.')
          ? signature
          : `${schemaPrefix(table)}${signature}`;
        objects.push({ label: `function ${qualified}`, drop: `DROP FUNCTION ${qualified}` });
      }
      // Flow control's record of starts (migration 0008), the registry of workers (0009), also
      // kept if the table was dropped, and async-task 0.1's bookkeeping.
      const beside: [string, readonly string[]][] = [
        [quoteTable({ schema: table.schema, name: `${table.name}_starts` }), startsColumns],
        [quoteTable({ schema: table.schema, name: `${table.name}_workers` }), workersColumns],
        [legacyTable(table), legacyColumns],
      ];
      for (const [quoted, expected] of beside) {
        const columns = await columnsOf(connection, quoted);
        if (columns !== undefined) {
          objects.push(besideTable(`table ${quoted}`, `DROP TABLE ${quoted}`, columns, expected));
        }
      }
      return objects;
    },
    statements: (sql, table) =>
      renderStatements(sql, {
        '{{table}}': quoteTable(table),
        '{{schema}}': schemaPrefix(table),
        '{{name}}': table.name,
        '{{channel}}': notifyChannel(table),
      }),
    marked: (table, statements, marker) => [
      ...statements,
      `COMMENT ON TABLE ${quoteTable(table)} IS '${markerText(marker)}'`,
    ],
    dropLegacy: (table) => `DROP TABLE IF EXISTS ${legacyTable(table)}`,
  };
}
