// Database families by name, for drivers that serve several (knex, Kysely, TypeORM, Drizzle):
// `isDialectName` checks a name given in options, `dialectNamed` gives its dialect, and
// `familyAmong` finds the family of a client from the names it goes by (a config's `client`,
// an adapter's class name). Native drivers do not import this: it loads all three dialects.
import { mysqlDialect } from '../../dialects/mysql/index.js';
import { postgresDialect } from '../../dialects/postgres/index.js';
import { sqliteDialect } from '../../dialects/sqlite/index.js';
import type { Dialect } from '../../seam/driver.js';

export type DialectName = Dialect['name'];

const dialects: Readonly<Record<DialectName, Dialect>> = {
  postgres: postgresDialect,
  mysql: mysqlDialect,
  sqlite: sqliteDialect,
};

/** Whether `value` is 'postgres', 'mysql' or 'sqlite'. */
export function isDialectName(value: unknown): value is DialectName {
  return typeof value === 'string' && Object.hasOwn(dialects, value);
}

/** The dialect of a family. */
export function dialectNamed(name: DialectName): Dialect {
  return dialects[name];
}

/** The family `families` gives the first of `names` it lists (own keys only), if any. */
export function familyAmong(
  families: Readonly<Record<string, DialectName>>,
  names: readonly unknown[],
): DialectName | undefined {
  for (const name of names) {
    if (typeof name === 'string' && Object.hasOwn(families, name)) return families[name];
  }
  return undefined;
}
