import { ConfigError } from '../../core/errors.js';
import { betterSqlite3Driver, type BetterSqlite3Database } from '../better-sqlite3.js';
import type { FlavourDriver } from './flavour.js';
import type { DrizzleDatabase } from './index.js';
import { sessionClientOf } from './session.js';

/**
 * drizzle-orm/better-sqlite3: the better-sqlite3 driver, its worker connection for the worker
 * side and `ctx.transaction` (see `drizzleDriver`).
 */
export function betterSqlite3Flavour(db: DrizzleDatabase, root: unknown): FlavourDriver {
  // betterSqlite3Driver validates `root` (a better-sqlite3 Database, open, writable).
  const sqlite = betterSqlite3Driver(root as BetterSqlite3Database);
  const overWorker = new WeakMap<object, unknown>();
  return {
    dialect: sqlite.dialect,
    base: sqlite,
    connection: (client) => sqlite.connection(client as BetterSqlite3Database),
    // The base driver's BEGIN IMMEDIATE … COMMIT on its worker connection (`raw`), with the
    // handler given a Drizzle database over that connection: `db` itself when the worker
    // shares it (an in-memory database).
    transaction: (fn) =>
      sqlite.transaction((connection, raw) => {
        if (raw === root) return fn(connection, db);
        let drizzle = overWorker.get(raw);
        if (drizzle === undefined) overWorker.set(raw, (drizzle = sqliteDrizzleOver(db, raw)));
        return fn(connection, drizzle);
      }),
    close: () => sqlite.close(),
  };
}

/**
 * A Drizzle database of `db`'s own class, schema and logger over another better-sqlite3
 * connection (the worker's). Not public API: built from the constructors of `db` and its session
 * as drizzle-orm/better-sqlite3's `drizzle()` calls them (0.45):
 * `new BetterSQLiteSession(client, dialect, schema, { logger, cache })` and
 * `new BetterSQLite3Database(resultKind, dialect, session, schema)`, then `$client`.
 */
function sqliteDrizzleOver(db: DrizzleDatabase, connection: unknown): unknown {
  const parts = db as unknown as {
    constructor: new (...args: unknown[]) => object;
    resultKind?: unknown;
    dialect?: unknown;
    session?: {
      constructor: new (...args: unknown[]) => object;
      schema?: unknown;
      logger?: unknown;
      cache?: unknown;
    };
  };
  const session = parts.session!;
  const refused = (cause?: unknown): ConfigError =>
    new ConfigError(
      "drizzleDriver: could not make a Drizzle database over the worker's SQLite connection for ctx.transaction (this drizzle-orm version builds its better-sqlite3 database differently); use betterSqlite3Driver from 'async-task/better-sqlite3' for the worker side",
      cause === undefined ? undefined : { cause },
    );
  let copy: object;
  try {
    const inner = new session.constructor(connection, parts.dialect, session.schema, {
      logger: session.logger,
      cache: session.cache,
    });
    copy = new parts.constructor(parts.resultKind ?? 'sync', parts.dialect, inner, session.schema);
  } catch (error) {
    throw refused(error);
  }
  if (sessionClientOf(copy) !== connection) throw refused();
  Object.assign(copy, { $client: connection });
  return copy;
}
