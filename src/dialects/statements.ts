import { createHash } from 'node:crypto';
import type { TableName } from '../seam/driver.js';
import type { Statement } from '../seam/sql-connection.js';

/**
 * A dialect's own statement, bound to a table. `order`, when present, says which parameter each
 * placeholder of `text` takes (indexes into the executor's parameters, in text order); see
 * {@link paramsFor}. Absent, the parameters go as they are.
 */
export interface BoundStatement extends Statement {
  readonly order?: readonly number[];
}

/** A template's text made ready for the client: its placeholders and, if it needs one, an order. */
export type PlaceholderForm = (text: string) => { text: string; order?: readonly number[] };

/**
 * Makes a dialect's `bindStatements`: fills the placeholders of every statement template for a
 * table, once per table, and names each statement after its text (prefix, key and a hash), so a
 * driver can prepare it once per connection and never confuse two tables' statements.
 * `placeholders` rewrites the parameter placeholders of each text (SQLite's numbered `?N`).
 * `unprepared` statements are named '' (see {@link Statement.name}): planned anew at every run.
 */
export function statementBinder<Name extends string>(
  prefix: string,
  templates: Readonly<Record<Name, string>>,
  substitutions: (table: TableName) => Readonly<Record<string, string>>,
  placeholders: PlaceholderForm = (text) => ({ text }),
  unprepared: readonly Name[] = [],
): (table: TableName) => Readonly<Record<Name, BoundStatement>> {
  const cache = new Map<string, Readonly<Record<Name, BoundStatement>>>();
  // Every executor binds its table's statements, and one is made per enqueue and per claim:
  // keyed by the TableName object first, so that is a lookup, not the substitutions and a SHA-1.
  const byTable = new WeakMap<TableName, Readonly<Record<Name, BoundStatement>>>();
  return (table) => {
    const known = byTable.get(table);
    if (known) return known;
    const values = substitutions(table);
    const key = JSON.stringify(Object.entries(values));
    let bound = cache.get(key);
    if (!bound) {
      const entries = Object.entries<string>(templates).map(([name, template]) => {
        const { text, order } = placeholders(fill(template, values).trim());
        const hash = createHash('sha1').update(text).digest('hex').slice(0, 16);
        const statement: BoundStatement = {
          name: unprepared.includes(name as Name) ? '' : `${prefix}${name}_${hash}`,
          text,
          returnsRows: returnsRows(text),
          ...(order && { order }),
        };
        return [name, statement] as const;
      });
      bound = Object.fromEntries(entries) as Record<Name, BoundStatement>;
      cache.set(key, bound);
    }
    byTable.set(table, bound);
    return bound;
  };
}

/**
 * SQLite's numbered placeholders (`?1`, in any order, some repeated) as plain `?`, which every
 * client binds from an array in order: `order` lists, for each `?` in turn, the index of the
 * parameter it takes. Left out when that is the parameters' own order. Our SQL has no `?` inside
 * string literals or quoted names, so a plain scan is exact.
 */
export function plainPlaceholders(numbered: string): { text: string; order?: readonly number[] } {
  const order: number[] = [];
  const text = numbered.replace(/\?(\d+)/g, (_, number: string) => {
    order.push(Number(number) - 1);
    return '?';
  });
  return order.every((index, position) => index === position) ? { text } : { text, order };
}

/** The parameters in the order of `statement`'s placeholders (see {@link BoundStatement.order}). */
export function paramsFor(
  statement: BoundStatement,
  params: readonly unknown[],
): readonly unknown[] {
  const { order } = statement;
  if (order === undefined) return params;
  const ordered = new Array<unknown>(order.length);
  for (let i = 0; i < order.length; i++) ordered[i] = params[order[i]!];
  return ordered;
}

/** `text` with each placeholder (a key of `substitutions`) replaced by its value, in key order. */
export function fill(text: string, substitutions: Readonly<Record<string, string>>): string {
  return Object.entries(substitutions).reduce(
    (sql, [placeholder, value]) => sql.replaceAll(placeholder, value),
    text,
  );
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
