import { ConfigError } from './errors.js';

const part = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** `name` or `schema.name`; each part a plain identifier, so quoting it can never be escaped. */
export function parseTableName(value: string): { schema: string | null; name: string } {
  const parts = typeof value === 'string' ? value.split('.') : [];
  if (parts.length < 1 || parts.length > 2 || !parts.every((p) => part.test(p))) {
    throw new ConfigError(
      `table ${JSON.stringify(value)} is not a valid table name; use "name" or "schema.name", each part matching [A-Za-z_][A-Za-z0-9_]{0,62}`,
    );
  }
  const [first, second] = parts as [string, string | undefined];
  return second === undefined ? { schema: null, name: first } : { schema: first, name: second };
}
