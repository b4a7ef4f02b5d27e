// Which of drizzle-orm's drivers a database is made with, and what async-task needs of each.
import { ConfigError } from '../../core/errors.js';
import type { Dialect, Driver } from '../../seam/driver.js';
import type { SqlConnection } from '../../seam/sql-connection.js';
import { betterSqlite3Flavour } from './better-sqlite3.js';
import type { DrizzleDatabase, DrizzleDialectName, DrizzleDriverOptions } from './index.js';
import { mysql2Flavour } from './mysql2.js';
import { nodePostgresFlavour } from './node-postgres.js';
import { isPostgresJs, postgresJsFlavour } from './postgres-js.js';
import { sessionClientOf, sessionKindsOf } from './session.js';

/** drizzle-orm's session classes async-task knows, by their `entityKind`, and the families. */
export type Flavour = 'node-postgres' | 'postgres-js' | 'mysql2' | 'better-sqlite3';

const flavourKinds: Readonly<Record<string, Flavour>> = {
  NodePgSession: 'node-postgres',
  PostgresJsSession: 'postgres-js',
  MySql2Session: 'mysql2',
  BetterSQLiteSession: 'better-sqlite3',
};

const familyKinds: Readonly<Record<string, DrizzleDialectName>> = {
  PgSession: 'postgres',
  MySqlSession: 'mysql',
  SQLiteSession: 'sqlite',
};

const familyOfFlavour: Readonly<Record<Flavour, DrizzleDialectName>> = {
  'node-postgres': 'postgres',
  'postgres-js': 'postgres',
  mysql2: 'mysql',
  'better-sqlite3': 'sqlite',
};

export function knownFlavourOf(drizzle: object): Flavour | undefined {
  for (const kind of sessionKindsOf(drizzle)) {
    if (Object.hasOwn(flavourKinds, kind)) return flavourKinds[kind];
  }
  return undefined;
}

export function flavourOf(db: object, forced: unknown): Flavour {
  const kinds = sessionKindsOf(db);
  const known = knownFlavourOf(db);
  const familyKind = kinds.find((kind) => Object.hasOwn(familyKinds, kind));
  const family = known ? familyOfFlavour[known] : familyKind ? familyKinds[familyKind] : undefined;
  const shown = kinds[0] ?? 'an unknown session';
  if (forced !== undefined) {
    if (forced !== 'postgres' && forced !== 'mysql' && forced !== 'sqlite') {
      throw new ConfigError(
        `drizzleDriver: options.dialect must be 'postgres', 'mysql' or 'sqlite', got ${typeof forced === 'string' ? forced : typeof forced}`,
      );
    }
    if (family !== undefined && family !== forced) {
      throw new ConfigError(
        `drizzleDriver: options.dialect is '${forced}', but this Drizzle instance (${shown}) is ${family}; leave the option out`,
      );
    }
    if (known) return known;
    if (forced === 'postgres') {
      return isPostgresJs(sessionClientOf(db)) ? 'postgres-js' : 'node-postgres';
    }
    return forced === 'mysql' ? 'mysql2' : 'better-sqlite3';
  }
  if (known) return known;
  throw new ConfigError(
    `drizzleDriver: this Drizzle instance uses ${shown}, which async-task does not recognise; use drizzle-orm/node-postgres, postgres-js, mysql2 or better-sqlite3, or pass { dialect: 'postgres' | 'mysql' | 'sqlite' } if its client is a pg Pool or postgres.js sql, a mysql2 pool, or a better-sqlite3 Database`,
  );
}

/** How async-task runs on one flavour: the base driver's statements on Drizzle's connections. */
export interface FlavourDriver {
  readonly dialect: Dialect;
  /** The base driver over the root native client: the worker's `run`, `session` and `listen`. */
  readonly base: Driver<never, unknown>;
  /** Wraps the native client of a Drizzle `db` or `tx`. */
  connection(client: unknown): SqlConnection;
  transaction<T>(fn: (connection: SqlConnection, tx: unknown) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export function flavourDriver(
  flavour: Flavour,
  db: DrizzleDatabase,
  options: DrizzleDriverOptions,
): FlavourDriver {
  const root = sessionClientOf(db);
  const preparedStatements = options.preparedStatements ?? true;
  switch (flavour) {
    case 'node-postgres':
      return nodePostgresFlavour(db, root, preparedStatements);
    case 'postgres-js':
      return postgresJsFlavour(db, root, preparedStatements);
    case 'mysql2':
      return mysql2Flavour(db, root);
    case 'better-sqlite3':
      return betterSqlite3Flavour(db, root);
  }
}
