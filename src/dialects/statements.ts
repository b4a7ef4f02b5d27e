import { createHash } from 'node:crypto';
import type { TableName } from '../seam/driver.js';
import type { Statement } from '../seam/sql-connection.js';

/**
 * Makes a dialect's `bindStatements`: fills the placeholders of every statement template for a
 * table, once per table, and names each statement after its text (prefix, key and a hash), so a
 * driver can prepare it once per connection and never confuse two tables' statements.
 */
export function statementBinder<Name extends string>(
  prefix: string,
  templates: Readonly<Record<Name, string>>,
  substitutions: (table: TableName) => Readonly<Record<string, string>>,
): (table: TableName) => Readonly<Record<Name, Statement>> {
  const cache = new Map<string, Readonly<Record<Name, Statement>>>();
  return (table) => {
    const values = Object.entries(substitutions(table));
    const key = JSON.stringify(values);
    let bound = cache.get(key);
    if (!bound) {
      const entries = Object.entries<string>(templates).map(([name, template]) => {
        const text = values
          .reduce((sql, [placeholder, value]) => sql.replaceAll(placeholder, value), template)
          .trim();
        const hash = createHash('sha1').update(text).digest('hex').slice(0, 16);
        return [
          name,
          { name: `${prefix}${name}_${hash}`, text, returnsRows: returnsRows(text) },
        ] as const;
      });
      bound = Object.fromEntries(entries) as Record<Name, Statement>;
      cache.set(key, bound);
    }
    return bound;
  };
}

/**
 * Whether one of the dialects' own statements returns rows: a query, or a write with RETURNING.
 * Decided here, where the texts are known, so no driver has to read SQL.
 */
export function returnsRows(text: string): boolean {
  return (
    /^\s*(SELECT|WITH|VALUES|PRAGMA|SHOW|EXPLAIN)\b/i.test(text) || /\bRETURNING\b/i.test(text)
  );
}

/** A statement run once (DDL, bookkeeping): unnamed, so drivers do not prepare it. */
export function adHoc(text: string): Statement {
  return { name: '', text, returnsRows: returnsRows(text) };
}
