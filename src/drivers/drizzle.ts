import { AsyncTaskError, ConfigError, DatabaseError } from '../core/errors.js';
import type { Dialect, Driver } from '../seam/driver.js';
import type { SqlConnection } from '../seam/sql-connection.js';
import { betterSqlite3Driver, type BetterSqlite3Database } from './better-sqlite3.js';
import { mysql2Driver, type Mysql2Pool, type Mysql2Queryable } from './mysql2.js';
import { pgDriver, type PgPool, type PgQueryable } from './pg.js';
import {
  postgresJsDriver,
  type PostgresJsPendingQuery,
  type PostgresJsQueryable,
  type PostgresJsSql,
} from './postgres-js.js';

/**
 * The part of a Drizzle database (what `drizzle(…)` of drizzle-orm/node-postgres, /postgres-js,
 * /mysql2 or /better-sqlite3 returns) that async-task's types rely on.
 */
export interface DrizzleDatabase {
  /** The client the instance was made with. */
  readonly $client: unknown;
  transaction(...args: never[]): unknown;
}

/** The transaction type of a Drizzle database: the `tx` of `db.transaction((tx) => …)`. */
export type DrizzleTransactionOf<Db extends DrizzleDatabase> = Parameters<
  Parameters<Db['transaction']>[0]
>[0];

/**
 * What a handler's `ctx.transaction` receives: Drizzle's `tx` where `db.transaction` is
 * asynchronous; on better-sqlite3, whose `db.transaction` is synchronous, a Drizzle database
 * like `db` bound to the worker's open transaction (see {@link drizzleDriver}).
 */
export type DrizzleHandlerTxOf<Db extends DrizzleDatabase> =
  ReturnType<Db['transaction']> extends PromiseLike<unknown> ? DrizzleTransactionOf<Db> : Db;

/** The Drizzle driver: a `Driver` plus `close()`. */
export interface DrizzleDriver<Db extends DrizzleDatabase> extends Driver<
  Db | DrizzleTransactionOf<Db>,
  DrizzleHandlerTxOf<Db>
> {
  /**
   * On better-sqlite3, closes the worker connection this driver opened (never `db.$client`);
   * elsewhere does nothing (the pool is yours). Call it after stopping workers.
   */
  close(): Promise<void>;
}

/** The database families the Drizzle driver runs on. */
export type DrizzleDialectName = 'postgres' | 'mysql' | 'sqlite';

export interface DrizzleDriverOptions {
  /**
   * The database family, for a Drizzle instance whose driver async-task does not recognise (a
   * session class other than drizzle-orm's node-postgres, postgres-js, mysql2 and better-sqlite3
   * ones). Its client must then be shaped like one of theirs: a pg `Pool` or a postgres.js `sql`
   * for 'postgres', a mysql2 pool for 'mysql', a better-sqlite3 `Database` for 'sqlite'.
   * @defaultValue detected from the instance's session class
   */
  readonly dialect?: DrizzleDialectName;
  /**
   * PostgreSQL only: prepare each statement once per connection. Turn off behind PgBouncer in
   * transaction mode before 1.21.
   * @defaultValue true
   */
  readonly preparedStatements?: boolean;
}

/**
 * The driver for Drizzle ORM (drizzle-orm 0.36+, tested on 0.45) over node-postgres
 * (`drizzle-orm/node-postgres`), postgres.js (`drizzle-orm/postgres-js`), mysql2
 * (`drizzle-orm/mysql2`) or better-sqlite3 (`drizzle-orm/better-sqlite3`). Give it your `db`;
 * `enqueue` accepts the `tx` of `db.transaction(async (tx) => …)` (the normal case; a nested
 * `tx.transaction()` is a savepoint, and a task enqueued in it goes if it rolls back) or `db`
 * itself for an enqueue outside any transaction. Use a `tx` only inside its callback.
 *
 * async-task's SQL does not go through Drizzle's query builder: each statement runs on the native
 * connection Drizzle holds for that `tx` (a pg `PoolClient`, a postgres.js transaction `sql`, a
 * mysql2 connection, the better-sqlite3 `Database`), exactly as the pg, postgres.js, mysql2 and
 * better-sqlite3 drivers run it. The worker side (`runDue`, workers, `migrate`, management
 * calls) takes connections from `db.$client`, which must be a pool (not a single pg `Client` or
 * mysql2 connection); a handler's `ctx.transaction` is a `db.transaction` whose `tx` it receives.
 * The family is detected from the instance's session class, or given with `options.dialect`.
 *
 * On PostgreSQL workers LISTEN like the pg and postgres.js drivers (a connection of the pg pool,
 * or postgres.js's own listening connection); on MySQL and SQLite they poll.
 *
 * better-sqlite3: Drizzle's `db.transaction((tx) => …)` is synchronous, and so is the enqueue's
 * INSERT: call `enqueue(tx, …)` inside the callback without awaiting (`void`), and the row is
 * written before it returns; an exception later in the callback rolls it back with the rest. The
 * worker side runs on a second connection to the same file (WAL), as the better-sqlite3 driver
 * does, and since a synchronous transaction cannot span a handler's awaits, `ctx.transaction` is
 * `BEGIN IMMEDIATE … COMMIT` on that connection and hands the handler a Drizzle database of
 * `db`'s class and schema bound to it: its queries run inside that transaction (and its own
 * `transaction()` is a savepoint). Write through it, not through `db`, while it is open; call
 * `close()` after stopping workers.
 *
 * @example
 * import { drizzle } from 'drizzle-orm/node-postgres';
 * import { drizzleDriver } from 'async-task/drizzle';
 * const db = drizzle({ client: new pg.Pool({ connectionString: process.env.DATABASE_URL }) });
 * const tasks = new AsyncTask({ driver: drizzleDriver(db), targets: [OrderClient] });
 * await db.transaction(async (tx) => {
 *   await tx.insert(orders).values({ number: 7 });
 *   await tasks.enqueue(tx, OrderClient.fulfill, { orderNumber: 7 });
 * });
 */
export function drizzleDriver<Db extends DrizzleDatabase>(
  db: Db,
  options: DrizzleDriverOptions = {},
): DrizzleDriver<Db> {
  if (isDrizzle(db) && typeof (db as { rollback?: unknown }).rollback === 'function') {
    throw new ConfigError(
      'drizzleDriver: pass the Drizzle database, not a transaction (give transactions to enqueue)',
    );
  }
  if (!isDrizzle(db) || !('$client' in db)) {
    throw new ConfigError(
      'drizzleDriver: pass your Drizzle database (drizzle({ client }) of drizzle-orm/node-postgres, postgres-js, mysql2 or better-sqlite3), not a pool or another client',
    );
  }
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError('drizzleDriver: options must be an object');
  }
  const flavour = flavourOf(db, options.dialect);
  const native = nativeFor(flavour, db, options);
  type Tx = Db | DrizzleTransactionOf<Db>;
  type HandlerTx = DrizzleHandlerTxOf<Db>;

  const driver: DrizzleDriver<Db> = {
    dialect: native.dialect,
    connection: (tx: Tx) => {
      if (!isDrizzle(tx)) {
        throw new ConfigError(
          'enqueue: pass the tx of db.transaction(async (tx) => …) (or the Drizzle db itself), not a native client',
        );
      }
      const other = knownFlavourOf(tx);
      if (other !== undefined && other !== flavour) {
        throw new ConfigError(
          `enqueue: this Drizzle object is drizzle-orm/${other}, but the driver was made for a drizzle-orm/${flavour} database`,
        );
      }
      return native.connection(sessionClientOf(tx));
    },
    run: (fn) => native.base.run(fn),
    session: (fn) => native.base.session(fn),
    transaction: <T>(fn: (connection: SqlConnection, tx: HandlerTx) => Promise<T>) =>
      native.transaction(fn as (connection: SqlConnection, tx: unknown) => Promise<T>),
    close: () => native.close(),
  };
  const base = native.base;
  if (base.listen) {
    return {
      ...driver,
      listen: (channel, onNotify, onError) => base.listen!(channel, onNotify, onError),
    };
  }
  return driver;
}

/** drizzle-orm's session classes async-task knows, by their `entityKind`, and the families. */
type Flavour = 'node-postgres' | 'postgres-js' | 'mysql2' | 'better-sqlite3';

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

/** `Symbol.for('drizzle:entityKind')`: every Drizzle class names itself with this static. */
const entityKind = Symbol.for('drizzle:entityKind');

/**
 * The `entityKind`s of the session's class and its base classes, nearest first (e.g.
 * `NodePgSession`, `PgSession`): a subclass that names itself still shows its Drizzle ancestry.
 */
function sessionKindsOf(drizzle: object): string[] {
  const session = sessionOf(drizzle);
  const kinds: string[] = [];
  if (typeof session !== 'object' || session === null) return kinds;
  for (
    let type: unknown = (session as { constructor?: unknown }).constructor;
    typeof type === 'function' && type !== Object;
    type = Object.getPrototypeOf(type)
  ) {
    if (Object.hasOwn(type, entityKind)) {
      kinds.push(String((type as unknown as Record<symbol, unknown>)[entityKind]));
    }
  }
  return kinds;
}

function knownFlavourOf(drizzle: object): Flavour | undefined {
  for (const kind of sessionKindsOf(drizzle)) {
    if (Object.hasOwn(flavourKinds, kind)) return flavourKinds[kind];
  }
  return undefined;
}

function flavourOf(db: object, forced: unknown): Flavour {
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

/**
 * The Drizzle session behind a database or transaction. Not public API: PgDatabase,
 * MySqlDatabase and BaseSQLiteDatabase (and so their transactions) keep it as `session`
 * (drizzle-orm 0.36 to 0.45).
 */
function sessionOf(drizzle: object): unknown {
  return (drizzle as { session?: unknown }).session;
}

/**
 * The native client behind a Drizzle database or transaction: its session's `client`. Not public
 * API; what it holds, per flavour (drizzle-orm 0.45 source, `<flavour>/session.js`):
 * - node-postgres (NodePgSession): the pg `Pool` for `db`; for a `tx`, the `PoolClient` its
 *   transaction checked out (nested transactions share their parent's session).
 * - postgres-js (PostgresJsSession): the root `sql` for `db`; the `sql` of `sql.begin` for a
 *   `tx`, and of `sql.savepoint` for a nested one.
 * - mysql2 (MySql2Session): the promise-API pool for `db` (Drizzle wraps a callback pool with
 *   `.promise()`; `db.$client` stays the pool you gave); the `PoolConnection` for a `tx`.
 * - better-sqlite3 (BetterSQLiteSession): the `Database`, for `db` and every `tx` alike.
 */
function sessionClientOf(drizzle: object): unknown {
  const session = sessionOf(drizzle);
  return typeof session === 'object' && session !== null
    ? (session as { client?: unknown }).client
    : undefined;
}

/** How async-task runs on one flavour: the base driver's statements on Drizzle's connections. */
interface Native {
  readonly dialect: Dialect;
  /** The base driver over the root native client: the worker's `run`, `session` and `listen`. */
  readonly base: Driver<never, unknown>;
  /** Wraps the native client of a Drizzle `db` or `tx`. */
  connection(client: unknown): SqlConnection;
  transaction<T>(fn: (connection: SqlConnection, tx: unknown) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

function nativeFor(flavour: Flavour, db: DrizzleDatabase, options: DrizzleDriverOptions): Native {
  const root = sessionClientOf(db);
  const preparedStatements = options.preparedStatements ?? true;
  switch (flavour) {
    case 'node-postgres': {
      if (!isPgPool(root)) {
        throw new ConfigError(
          'drizzleDriver: this Drizzle instance is over a single pg Client; make it over a pg.Pool (drizzle({ client: new pg.Pool({ connectionString }) })) so workers can take connections of their own',
        );
      }
      const pg = pgDriver(root, { preparedStatements });
      return {
        dialect: pg.dialect,
        base: pg,
        connection: (client) => {
          if (typeof client !== 'object' || client === null || !hasFunction(client, 'query')) {
            throw notDrizzleTx();
          }
          return pg.connection(client as PgQueryable);
        },
        transaction: (fn) => {
          const guard = new ErrorGuard();
          return throughDrizzle(db, (tx) => {
            const client = sessionClientOf(tx as object);
            guard.watch(client);
            return fn(pg.connection(client as PgQueryable), tx);
          }).finally(() => guard.release());
        },
        close: () => Promise.resolve(),
      };
    }
    case 'postgres-js': {
      if (!isPostgresJs(root) || !hasFunction(root, 'begin') || !hasFunction(root, 'reserve')) {
        throw new ConfigError(
          'drizzleDriver: this Drizzle instance is not over the root sql of postgres.js (postgres(url)); make it with drizzle({ client: sql })',
        );
      }
      const view = drizzleSerializersView(root);
      const postgresJs = postgresJsDriver(view(root as PostgresJsSql), { preparedStatements });
      return {
        dialect: postgresJs.dialect,
        base: postgresJs,
        connection: (client) => {
          if (!isPostgresJs(client)) throw notDrizzleTx();
          return postgresJs.connection(view(client));
        },
        transaction: (fn) =>
          throughDrizzle(db, (tx) => {
            const client = sessionClientOf(tx as object);
            return fn(postgresJs.connection(view(client as PostgresJsQueryable)), tx);
          }),
        close: () => Promise.resolve(),
      };
    }
    case 'mysql2': {
      if (!isMysqlPool(root)) {
        throw new ConfigError(
          'drizzleDriver: this Drizzle instance is over a single mysql2 connection; make it over a pool (drizzle({ client: mysql.createPool({ uri }) })) so workers can take connections of their own',
        );
      }
      const mysql = mysql2Driver(root);
      return {
        dialect: mysql.dialect,
        base: mysql,
        connection: (client) => {
          if (typeof client !== 'object' || client === null || !hasFunction(client, 'query')) {
            throw notDrizzleTx();
          }
          return mysql.connection(client as Mysql2Queryable);
        },
        transaction: (fn) =>
          throughDrizzle(db, (tx) =>
            fn(mysql.connection(sessionClientOf(tx as object) as Mysql2Queryable), tx),
          ),
        close: () => Promise.resolve(),
      };
    }
    case 'better-sqlite3': {
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
  }
}

/**
 * Runs `fn` in `db.transaction`: commit when it returns, rollback when it throws. Errors of `fn`
 * pass through as they are; Drizzle's own (connecting, BEGIN, COMMIT) become DatabaseError.
 */
async function throughDrizzle<T>(db: DrizzleDatabase, fn: (tx: unknown) => Promise<T>): Promise<T> {
  let result: { value: T } | undefined;
  let failure: { error: unknown } | undefined;
  const drizzle = db as unknown as {
    transaction(scope: (tx: unknown) => Promise<void>): Promise<void>;
  };
  try {
    // The callback returns nothing: postgres.js would await an array result element-wise.
    await drizzle.transaction(async (tx) => {
      try {
        result = { value: await fn(tx) };
      } catch (error) {
        failure = { error };
        throw error;
      }
    });
  } catch (error) {
    if (failure !== undefined) throw failure.error;
    if (error instanceof AsyncTaskError) throw error;
    throw new DatabaseError(
      `Drizzle could not begin or commit the transaction: ${messageOf(error)}`,
      { cause: error },
    );
  }
  if (result === undefined) {
    throw new DatabaseError('Drizzle ended the transaction without running it');
  }
  return result.value;
}

/**
 * A pg `PoolClient` checked out by Drizzle has no 'error' listener (the pool removes its own while
 * the client is out): a connection that dies while the handler's transaction is open, or while
 * Drizzle rolls it back, would be an uncaught exception. The guard listens from the handler's
 * start until `db.transaction` has settled (Drizzle has released the client by then); the failing
 * query reports the error, and the pool drops the broken client.
 */
class ErrorGuard {
  #client: PgEmitter | undefined;
  readonly #ignore = (): void => undefined;

  watch(client: unknown): void {
    const emitter = client as Partial<PgEmitter>;
    if (typeof emitter.on !== 'function' || typeof emitter.removeListener !== 'function') return;
    this.#client = emitter as PgEmitter;
    this.#client.on('error', this.#ignore);
  }

  release(): void {
    this.#client?.removeListener('error', this.#ignore);
    this.#client = undefined;
  }
}

interface PgEmitter {
  on(event: 'error', listener: (error: Error) => void): unknown;
  removeListener(event: 'error', listener: (error: Error) => void): unknown;
}

const jsonOids = [114, 3802];
const textOid = 25;

/**
 * `drizzle(sql)` of drizzle-orm/postgres-js sets postgres.js's serializers for timestamps and
 * JSON on that `sql` to the identity (Drizzle formats those values itself), which every
 * transaction and reserved connection of it shares. The postgres.js driver hands Dates over as
 * they are and JSON parameters parsed, for postgres.js to serialise. So its statements go through
 * a view of each `sql` that sends Dates as ISO text and, for a JSON type whose serializer is the
 * identity, declares the parameter as text: postgres.js then sends the JSON text as it is.
 */
function drizzleSerializersView(root: unknown): <Q extends PostgresJsQueryable>(client: Q) => Q {
  const serializers =
    (root as { options?: { serializers?: Record<number, unknown> } }).options?.serializers ?? {};
  const asText = new Set(
    jsonOids.filter((oid) => {
      const serialize = serializers[oid];
      return (
        typeof serialize === 'function' && (serialize as (value: string) => unknown)('[]') === '[]'
      );
    }),
  );
  const views = new WeakMap<object, unknown>();
  const view = <Q extends PostgresJsQueryable>(client: Q): Q => {
    let wrapped = views.get(client) as Q | undefined;
    if (wrapped) return wrapped;
    const unsafe: PostgresJsQueryable['unsafe'] = (query, parameters, queryOptions) => {
      const values = parameters?.map((value) =>
        value instanceof Date ? value.toISOString() : value,
      );
      const pending = client.unsafe(query, values, queryOptions);
      if (asText.size === 0) return pending;
      const described: PostgresJsPendingQuery = {
        then: (onFulfilled, onRejected) => pending.then(onFulfilled, onRejected),
        describe: () =>
          pending.describe().then((description) => ({
            ...description,
            types: description.types.map((oid) => (asText.has(oid) ? textOid : oid)),
          })),
      };
      return described;
    };
    wrapped = new Proxy(client, {
      get(target, key) {
        if (key === 'unsafe') return unsafe;
        if (key === 'reserve') {
          return async () => view(await (target as unknown as PostgresJsSql).reserve());
        }
        return Reflect.get(target, key) as unknown;
      },
    });
    views.set(client, wrapped);
    return wrapped;
  };
  return view;
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

function notDrizzleTx(): ConfigError {
  return new ConfigError(
    'enqueue: this Drizzle object has no native connection of the kind its driver uses; pass the tx of db.transaction(async (tx) => …) or the Drizzle db itself',
  );
}

function hasFunction(value: object, name: string): boolean {
  return typeof (value as Record<string, unknown>)[name] === 'function';
}

function isDrizzle(value: unknown): value is DrizzleDatabase {
  if (typeof value !== 'object' || value === null) return false;
  const session = sessionOf(value);
  return (
    typeof (value as { transaction?: unknown }).transaction === 'function' &&
    typeof session === 'object' &&
    session !== null &&
    'client' in session
  );
}

function isPgPool(value: unknown): value is PgPool {
  return (
    typeof value === 'object' &&
    value !== null &&
    hasFunction(value, 'connect') &&
    hasFunction(value, 'query') &&
    'idleCount' in value
  );
}

function isPostgresJs(value: unknown): value is PostgresJsQueryable {
  return (
    typeof value === 'function' && typeof (value as { unsafe?: unknown }).unsafe === 'function'
  );
}

function isMysqlPool(value: unknown): value is Mysql2Pool {
  return (
    typeof value === 'object' &&
    value !== null &&
    hasFunction(value, 'getConnection') &&
    hasFunction(value, 'query')
  );
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
