// What the database's catalog holds in a harness's own namespace (its PostgreSQL schema, MySQL
// database or SQLite file), read with plain SQL through the harness's driver.
import { adHoc } from '../../src/dialects/statements.js';
import type { Harness } from './fixture.js';

type DialectName = 'postgres' | 'mysql' | 'sqlite';

/** Runs one statement through the harness's driver and returns its rows. */
export async function rawQuery(
  harness: Harness,
  sql: string,
  params: readonly unknown[] = [],
): Promise<Record<string, unknown>[]> {
  const { rows } = await harness.driver.run((connection) => connection.query(adHoc(sql), params));
  return [...rows];
}

/** The harness's namespace: the schema (PostgreSQL) or database (MySQL) of its table. */
function namespaceOf(harness: Harness): string | null {
  const parts = harness.table.split('.');
  return parts.length === 2 ? parts[0]! : null;
}

/** The table as SQL names it. */
export function quotedTable(harness: Harness, dialect: DialectName): string {
  const quote = dialect === 'mysql' ? '`' : '"';
  return harness.table
    .split('.')
    .map((part) => `${quote}${part}${quote}`)
    .join('.');
}

/**
 * Every table, index, sequence, view, function, procedure and trigger in the harness's
 * namespace, as `kind name`, sorted; and on SQLite the AUTOINCREMENT counters (sqlite_sequence
 * rows), which outlive nothing they should not.
 */
export async function catalogObjects(harness: Harness, dialect: DialectName): Promise<string[]> {
  // A name the harness made up (letters, digits, _), so it can be written into the SQL.
  const namespace = namespaceOf(harness) ?? '';
  let rows: Record<string, unknown>[];
  if (dialect === 'postgres') {
    rows = await rawQuery(
      harness,
      `SELECT 'relation ' || c.relname AS object FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '${namespace}'
       UNION ALL
       SELECT 'function ' || p.proname FROM pg_proc p
         JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = '${namespace}'
       UNION ALL
       SELECT 'trigger ' || t.tgname FROM pg_trigger t
         JOIN pg_class c ON c.oid = t.tgrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '${namespace}'`,
    );
  } else if (dialect === 'mysql') {
    rows = await rawQuery(
      harness,
      `SELECT CONCAT('table ', TABLE_NAME) AS object FROM information_schema.TABLES
         WHERE TABLE_SCHEMA = '${namespace}'
       UNION ALL
       SELECT CONCAT('routine ', ROUTINE_NAME) FROM information_schema.ROUTINES
         WHERE ROUTINE_SCHEMA = '${namespace}'
       UNION ALL
       SELECT CONCAT('trigger ', TRIGGER_NAME) FROM information_schema.TRIGGERS
         WHERE TRIGGER_SCHEMA = '${namespace}'`,
    );
  } else {
    rows = await rawQuery(
      harness,
      `SELECT type || ' ' || name AS object FROM sqlite_schema WHERE name <> 'sqlite_sequence'`,
    );
    const counters = await rawQuery(
      harness,
      `SELECT 1 AS present FROM sqlite_schema WHERE name = 'sqlite_sequence'`,
    );
    if (counters.length > 0) {
      rows.push(
        ...(await rawQuery(harness, `SELECT 'counter ' || name AS object FROM sqlite_sequence`)),
      );
    }
  }
  return rows.map((row) => String(row['object'])).sort();
}
