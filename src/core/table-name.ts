import { ConfigError } from './errors.js';

const part = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * `name` or `schema.name`; each part a plain identifier, so quoting it can never be escaped.
 * `limit` is the database's own bound on the name part, if it has one.
 */
export function parseTableName(
  value: string,
  limit: { readonly maxLength: number; readonly reason: string } | null = null,
): { schema: string | null; name: string } {
  const parts = typeof value === 'string' ? value.split('.') : [];
  if (parts.length < 1 || parts.length > 2 || !parts.every((p) => part.test(p))) {
    throw new ConfigError(
      `table ${JSON.stringify(value)} is not a valid table name; use "name" or "schema.name", each part matching [A-Za-z_][A-Za-z0-9_]{0,62}`,
    );
  }
  const [first, second] = parts as [string, string | undefined];
  const name = second ?? first;
  if (limit !== null && name.length > limit.maxLength) {
    throw new ConfigError(
      `table ${JSON.stringify(value)}: the table's name "${name}" has ${name.length} characters; on this database it may have at most ${limit.maxLength} characters, because ${limit.reason}. Use a shorter name.`,
    );
  }
  return second === undefined ? { schema: null, name: first } : { schema: first, name: second };
}

/** The table as users wrote it: `schema.name`, or `name` for the connection's default schema. */
export function tableLabel(table: {
  readonly schema: string | null;
  readonly name: string;
}): string {
  return table.schema === null ? table.name : `${table.schema}.${table.name}`;
}
