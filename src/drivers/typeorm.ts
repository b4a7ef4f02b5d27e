import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { AsyncTaskError, ConfigError, DatabaseError } from '../core/errors.js';
import { mysqlDialect } from '../dialects/mysql/index.js';
import { postgresDialect } from '../dialects/postgres/index.js';
import { sqliteDialect } from '../dialects/sqlite/index.js';
import type { Dialect, Driver, Unlisten } from '../seam/driver.js';
import type { SqlConnection, Statement } from '../seam/sql-connection.js';
import {
  betterSqlite3Driver,
  type BetterSqlite3Database,
  type BetterSqlite3Driver,
} from './better-sqlite3.js';
import { callbackMysqlConnection } from './internal/shared.js';
import { pgDriver, type PgPool, type PgQueryable } from './pg.js';
import { withSqlTransactions } from './internal/sql-transaction.js';

/** The database families the TypeORM driver runs on. */
export type TypeormDialectName = 'postgres' | 'mysql' | 'sqlite';

export interface TypeormDriverOptions {
  /**
   * The database family, for a DataSource `type` async-task does not recognise. Its connections
   * must be those of pg, mysql2 (or mysql) or better-sqlite3 respectively.
   * @defaultValue detected from `dataSource.options.type`: `postgres`; `mysql`, `mariadb`;
   * `better-sqlite3`
   */
  readonly dialect?: TypeormDialectName;
  /**
   * PostgreSQL only: prepare each statement once per connection. Turn off behind PgBouncer in
   * transaction mode before 1.21.
   * @defaultValue true
   */
  readonly preparedStatements?: boolean;
}

/** The TypeORM driver: a `Driver` plus `close()` for the SQLite connection it may open. */
export interface TypeormDriver extends Driver<EntityManager, EntityManager> {
  /**
   * SQLite: closes the worker's own connection to the database file, after the work queued on
   * it (never TypeORM's). Call it after stopping workers, before `dataSource.destroy()`.
   * PostgreSQL and MySQL: does nothing (every connection used is the DataSource's).
   */
  close(): Promise<void>;
}

/**
 * The driver for TypeORM (1.x, and 0.3.20+) on PostgreSQL (`type: 'postgres'`, pg), MySQL/MariaDB
 * (`'mysql'`, `'mariadb'`) and SQLite (`'better-sqlite3'`). Give it your `DataSource`; `enqueue`
 * accepts the `EntityManager` of `dataSource.transaction(async (manager) => …)` (the normal case),
 * `queryRunner.manager` after `queryRunner.startTransaction()`, or `dataSource.manager` for an
 * enqueue outside any transaction (on a connection borrowed for the INSERT). Await `enqueue`
 * inside the callback, as any TypeORM query. A nested `manager.transaction()` is a savepoint: a
 * task enqueued in it goes when it rolls back.
 *
 * async-task's SQL does not go through `manager.query`: each statement runs on the native
 * connection the manager's QueryRunner holds (a pg `PoolClient`, a mysql2 connection, the
 * better-sqlite3 `Database`), exactly as the pg, mysql2 and better-sqlite3 drivers run it. The
 * database family comes from `dataSource.options.type`, or `options.dialect`. The DataSource
 * may be initialized after the driver is made, but before it is used.
 *
 * The worker side (`runDue`, workers, `migrate`, management calls) on PostgreSQL and MySQL runs
 * on QueryRunners of the DataSource (connections of its pool), and a handler's `ctx.transaction`
 * is a `dataSource.transaction` whose `EntityManager` the handler receives. On PostgreSQL workers
 * LISTEN on a connection of TypeORM's pool, which they keep (count it in `poolSize`); on MySQL
 * and SQLite they poll.
 *
 * On SQLite TypeORM has one connection and one QueryRunner, and does not keep transactions
 * apart: work started while a transaction is open on it lands inside it. So the worker side
 * runs on a second connection to the same file, as the better-sqlite3 driver's does (WAL mode,
 * `foreign_keys`, `key` and `prepareDatabase` as TypeORM sets them; waits for SQLite's write lock
 * are asynchronous, up to the DataSource's `timeout`). A handler's `ctx.transaction` is
 * `BEGIN IMMEDIATE … COMMIT` there, and hands the handler an `EntityManager` of the DataSource
 * bound to it. While it is open, write through that manager: a write through TypeORM's own
 * connection waits for SQLite's lock without letting the event loop finish the handler, and
 * fails after `timeout`. An in-memory database cannot be opened twice and is refused: use a file.
 * Call `close()` after stopping workers.
 *
 * @example
 * import { DataSource } from 'typeorm';
 * import { typeormDriver } from 'async-task/typeorm';
 * const dataSource = new DataSource({ type: 'postgres', url: process.env.DATABASE_URL, entities });
 * await dataSource.initialize();
 * const tasks = new AsyncTask({ driver: typeormDriver(dataSource), targets: [OrderClient] });
 * await dataSource.transaction(async (manager) => {
 *   await manager.save(Order, { number: 7 });
 *   await tasks.enqueue(manager, OrderClient.fulfill, { orderNumber: 7 });
 * });
 */
export function typeormDriver(
  dataSource: DataSource,
  options: TypeormDriverOptions = {},
): TypeormDriver {
  if (!isDataSource(dataSource)) {
    throw new ConfigError(
      isEntityManager(dataSource)
        ? 'typeormDriver: pass the DataSource, not an EntityManager (give managers to enqueue)'
        : "typeormDriver: pass a TypeORM DataSource (new DataSource({ type: 'postgres', … }))",
    );
  }
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError('typeormDriver: options must be an object');
  }
  const native = nativeFor(options.dialect ?? detectDialect(dataSource), dataSource, options);

  const ready = (): void => {
    if (!dataSource.isInitialized) {
      throw new ConfigError(
        'the TypeORM DataSource is not initialized (or was destroyed): await dataSource.initialize() before using async-task',
      );
    }
  };

  /** Runs `fn` on the native connection of `manager`: its QueryRunner's, or a borrowed one. */
  const onConnectionOf = async <T>(
    manager: EntityManager,
    fn: (raw: unknown) => Promise<T>,
  ): Promise<T> => {
    ready();
    const runner = manager.queryRunner;
    if (!runner) return borrow(dataSource, fn);
    if (runner.isReleased) {
      throw new ConfigError(
        "enqueue: this EntityManager's QueryRunner was released (its transaction is over); enqueue inside dataSource.transaction(async (manager) => …)",
      );
    }
    if (!runner.isTransactionActive) {
      throw new ConfigError(
        "enqueue: this EntityManager's QueryRunner is not in a transaction (it committed or rolled back, or never started one); enqueue inside dataSource.transaction(async (manager) => …) or after queryRunner.startTransaction(), or pass dataSource.manager to write outside a transaction",
      );
    }
    return fn(await nativeConnectionOf(runner));
  };

  const withBorrowed = <T>(fn: (connection: SqlConnection) => Promise<T>): Promise<T> =>
    borrow(dataSource, async (raw) => {
      try {
        return await fn(native.wrap(raw));
      } catch (error) {
        // Never hand a connection back inside a transaction someone forgot to end.
        await native.endTransaction(raw).catch(() => undefined);
        throw error;
      }
    });

  const transaction = async <T>(
    fn: (connection: SqlConnection, tx: EntityManager) => Promise<T>,
  ): Promise<T> => {
    let failed = false;
    try {
      return await dataSource.transaction(async (manager) => {
        const raw = await nativeConnectionOf(manager.queryRunner!);
        try {
          return await fn(native.wrap(raw), manager);
        } catch (error) {
          failed = true;
          throw error;
        }
      });
    } catch (error) {
      if (failed || error instanceof AsyncTaskError) throw error;
      throw new DatabaseError(
        `TypeORM could not begin or commit the transaction: ${messageOf(error)}`,
        { cause: error },
      );
    }
  };

  // SQLite: the worker side runs on a connection of its own.
  const worker = native.worker;
  const driver: TypeormDriver = {
    dialect: native.dialect,
    connection: (tx) => {
      if (!isEntityManager(tx)) {
        throw new ConfigError(
          isDataSource(tx)
            ? 'enqueue: pass an EntityManager (the manager of dataSource.transaction(async (manager) => …), or dataSource.manager), not the DataSource'
            : 'enqueue: pass the EntityManager of dataSource.transaction(async (manager) => …), or dataSource.manager',
        );
      }
      if (dataSourceOf(tx) !== dataSource) {
        throw new ConfigError(
          'enqueue: this EntityManager belongs to another DataSource than the one given to typeormDriver',
        );
      }
      return withSqlTransactions(native.dialect.name, {
        query: (statement, params) =>
          onConnectionOf(tx, (raw) => native.wrap(raw).query(statement, params)),
      });
    },
    run: async (fn) => {
      ready();
      return worker ? worker.run(fn) : withBorrowed(fn);
    },
    session: async (fn) => {
      ready();
      return worker ? worker.session(fn) : withBorrowed(fn);
    },
    transaction: async (fn) => {
      ready();
      return worker ? worker.transaction(fn) : transaction(fn);
    },
    close: () => native.close(),
  };
  if (native.listen) {
    const listen = native.listen;
    return {
      ...driver,
      listen: async (channel, onNotify, onError) => {
        ready();
        return listen(channel, onNotify, onError);
      },
    };
  }
  return driver;
}

/** How async-task runs statements on one kind of native connection TypeORM holds. */
interface Native {
  readonly dialect: Dialect;
  wrap(raw: unknown): SqlConnection;
  /** Rolls back whatever transaction `raw` may be left in, before it goes back to the pool. */
  endTransaction(raw: unknown): Promise<void>;
  /** SQLite: the worker side, on a connection of its own (see `sqliteWorker`). */
  readonly worker?: Pick<Driver<unknown, EntityManager>, 'run' | 'session' | 'transaction'>;
  listen?: NonNullable<Driver<unknown>['listen']>;
  close(): Promise<void>;
}

function nativeFor(
  dialect: TypeormDialectName,
  dataSource: DataSource,
  options: TypeormDriverOptions,
): Native {
  switch (dialect) {
    case 'postgres': {
      // pgDriver runs the statements exactly as on its own pool's clients; its pool, TypeORM's,
      // is only asked for LISTEN connections.
      const pool: PgPool = {
        get idleCount() {
          return pgPoolOf(dataSource).idleCount;
        },
        connect: () => pgPoolOf(dataSource).connect(),
        query: (config) => pgPoolOf(dataSource).query(config),
      };
      const pg = pgDriver(pool, { preparedStatements: options.preparedStatements ?? true });
      const wrap = (client: unknown): SqlConnection => pg.connection(client as PgQueryable);
      return {
        dialect: postgresDialect,
        wrap,
        endTransaction: async (client) => {
          await wrap(client).query(rollback, []);
        },
        listen: (channel, onNotify, onError): Promise<Unlisten> =>
          pg.listen!(channel, onNotify, onError),
        close: async () => {},
      };
    }
    case 'mysql': {
      // TypeORM holds callback-style connections (mysql2's, or mysql's in 0.3).
      const wrap = callbackMysqlConnection;
      return {
        dialect: mysqlDialect,
        wrap,
        endTransaction: async (connection) => {
          await wrap(connection).query(rollback, []);
        },
        close: async () => {},
      };
    }
    case 'sqlite':
      return sqliteNative(dataSource);
    default:
      throw new ConfigError(
        `typeormDriver: dialect must be 'postgres', 'mysql' or 'sqlite', got ${String(dialect)}`,
      );
  }
}

/**
 * SQLite: statements of `enqueue` run on TypeORM's one connection (the caller's transaction);
 * the worker side is the better-sqlite3 driver's, over a second connection it opens to the file.
 */
function sqliteNative(dataSource: DataSource): Native {
  const settings = dataSource.options as SqliteOptions;
  if (settings.database === ':memory:' || settings.database === '') {
    throw new ConfigError(
      "typeormDriver: an in-memory SQLite database cannot be opened a second time, and async-task's worker needs its own connection to it (TypeORM's one connection does not keep transactions apart); use a database file (in os.tmpdir() for tests)",
    );
  }
  const bases = new Map<BetterSqlite3Database, BetterSqlite3Driver>();
  /** The better-sqlite3 driver over the DataSource's current connection (it changes on re-initialize). */
  const base = (): BetterSqlite3Driver => {
    const db = sqliteDatabaseOf(dataSource);
    let driver = bases.get(db);
    if (!driver) {
      if (db.memory) {
        throw new ConfigError(
          'typeormDriver: the SQLite database is in memory; async-task needs a database file it can open a second time',
        );
      }
      const busyTimeoutMs = settings.timeout ?? 5000;
      driver = betterSqlite3Driver(db, {
        busyTimeoutMs,
        openWorkerConnection: () => openLikeTypeorm(db, settings, busyTimeoutMs),
      });
      bases.set(db, driver);
    }
    return driver;
  };
  const wrapped = new WeakMap<BetterSqlite3Database, SqlConnection>();
  const wrap = (db: unknown): SqlConnection => {
    const database = db as BetterSqlite3Database;
    let connection = wrapped.get(database);
    if (!connection) {
      // Only `query`: TypeORM's transactions are asynchronous (an async encryptor is fine).
      const sync = betterSqlite3Driver(database).connection(database);
      connection = withSqlTransactions('sqlite', {
        query: (statement, params) => sync.query(statement, params),
      });
      wrapped.set(database, connection);
    }
    return connection;
  };
  return {
    dialect: sqliteDialect,
    wrap,
    endTransaction: async () => {},
    worker: {
      run: (fn) => base().run(fn),
      session: (fn) => base().session(fn),
      transaction: (fn) =>
        base().transaction(async (connection, db) => {
          const bound = sqliteManagerOn(dataSource, db);
          try {
            return await fn(connection, bound.manager);
          } finally {
            bound.end();
          }
        }),
    },
    close: async () => {
      await Promise.all([...bases.values()].map((driver) => driver.close()));
      bases.clear();
    },
  };
}

/** The better-sqlite3 options of a DataSource that its connection is opened with. */
interface SqliteOptions {
  readonly database?: string;
  readonly timeout?: number;
  readonly key?: string;
  readonly prepareDatabase?: (db: unknown) => unknown;
}

/**
 * A second connection to TypeORM's database file, set up as TypeORM's BetterSqlite3Driver sets
 * up its own (1.1 and 0.3.20: `key` pragma, `prepareDatabase(db)`, `foreign_keys = ON`), so a
 * handler's EntityManager behaves on it as on TypeORM's.
 */
function openLikeTypeorm(
  db: BetterSqlite3Database,
  settings: SqliteOptions,
  timeout: number,
): BetterSqlite3Database {
  const Database = (
    db as unknown as {
      constructor: new (file: string, options: object) => BetterSqlite3Database;
    }
  ).constructor;
  const worker = new Database(db.name, { fileMustExist: true, timeout });
  try {
    if (settings.key) worker.pragma(`key = ${JSON.stringify(settings.key)}`);
    if (typeof settings.prepareDatabase === 'function') {
      const prepared = settings.prepareDatabase(worker);
      if (typeof (prepared as { then?: unknown } | null)?.then === 'function') {
        throw new ConfigError(
          "typeormDriver: prepareDatabase returned a promise; async-task opens its SQLite worker connection synchronously, so make prepareDatabase synchronous (better-sqlite3's own calls are)",
        );
      }
    }
    worker.pragma('foreign_keys = ON');
  } catch (error) {
    worker.close();
    throw error;
  }
  return worker;
}

/**
 * An EntityManager of `dataSource` that runs on `db` (the worker's SQLite connection, inside the
 * `BEGIN IMMEDIATE` the better-sqlite3 driver began), for a handler's `ctx.transaction`.
 *
 * Relies on TypeORM internals, the same in 1.1 and 0.3.20: the QueryRunner class of
 * `driver.createQueryRunner()` (BetterSqlite3QueryRunner, constructed with TypeORM's driver)
 * reaches its connection only through `connect()`, and `isTransactionActive` and
 * `transactionDepth` (1 = one transaction open) tell it a transaction is already open, so that
 * `save`/`insert` do not BEGIN again and a nested `manager.transaction()` is a savepoint.
 * `isReleased` makes the manager refuse work after the transaction.
 */
function sqliteManagerOn(
  dataSource: DataSource,
  db: BetterSqlite3Database,
): { manager: EntityManager; end(): void } {
  const typeormDriver = dataSource.driver as unknown as {
    createQueryRunner(mode: 'master'): QueryRunner;
  };
  const RunnerClass = typeormDriver.createQueryRunner('master').constructor as new (
    driver: unknown,
  ) => QueryRunner;
  const runner = new RunnerClass(dataSource.driver) as unknown as BoundRunner;
  runner.connect = () => Promise.resolve(db);
  const manager = dataSource.createEntityManager(runner as unknown as QueryRunner);
  runner.manager = manager;
  runner.isTransactionActive = true;
  runner.transactionDepth = 1;
  return {
    manager,
    end: () => {
      runner.isTransactionActive = false;
      runner.transactionDepth = 0;
      runner.isReleased = true;
    },
  };
}

/** The fields of TypeORM's BaseQueryRunner that `sqliteManagerOn` sets. */
interface BoundRunner {
  connect(): Promise<unknown>;
  manager: EntityManager;
  isTransactionActive: boolean;
  transactionDepth: number;
  isReleased: boolean;
}

/** TypeORM's pg `Pool`: `driver.master` of its PostgresDriver (1.1, 0.3.20), set by `initialize()`. */
function pgPoolOf(dataSource: DataSource): PgPool {
  const pool = (dataSource.driver as unknown as { master?: PgPool }).master;
  if (!pool) {
    throw new ConfigError(
      'typeormDriver: the DataSource has no PostgreSQL pool; await dataSource.initialize() first',
    );
  }
  return pool;
}

/** TypeORM's one SQLite connection: `driver.databaseConnection` (1.1, 0.3.20), set by `initialize()`. */
function sqliteDatabaseOf(dataSource: DataSource): BetterSqlite3Database {
  const db = (dataSource.driver as unknown as { databaseConnection?: BetterSqlite3Database })
    .databaseConnection;
  if (!db) {
    throw new ConfigError(
      'typeormDriver: the DataSource has no SQLite connection; await dataSource.initialize() first',
    );
  }
  return db;
}

/**
 * The native connection a QueryRunner holds: `QueryRunner.connect()` (public API in 0.3 and 1.x)
 * resolves to it — a pg `PoolClient`, a mysql2 (or mysql) callback `PoolConnection`, the
 * better-sqlite3 `Database` — taking it from the pool on first call.
 */
async function nativeConnectionOf(runner: QueryRunner): Promise<unknown> {
  try {
    return (await runner.connect()) as unknown;
  } catch (error) {
    if (error instanceof AsyncTaskError) throw error;
    throw new DatabaseError(`could not get a connection from TypeORM: ${messageOf(error)}`, {
      cause: error,
    });
  }
}

/** Runs `fn` on the native connection of a new QueryRunner of `dataSource`, then releases it. */
async function borrow<T>(dataSource: DataSource, fn: (raw: unknown) => Promise<T>): Promise<T> {
  const runner = dataSource.createQueryRunner();
  try {
    return await fn(await nativeConnectionOf(runner));
  } finally {
    await runner.release().catch(() => undefined);
  }
}

const rollback: Statement = { name: '', text: 'ROLLBACK', returnsRows: false };

const typeDialects: Readonly<Record<string, TypeormDialectName>> = {
  postgres: 'postgres',
  mysql: 'mysql',
  mariadb: 'mysql',
  'better-sqlite3': 'sqlite',
};

function detectDialect(dataSource: DataSource): TypeormDialectName {
  const type: unknown = dataSource.options.type;
  if (typeof type === 'string' && Object.hasOwn(typeDialects, type)) return typeDialects[type]!;
  throw new ConfigError(
    `typeormDriver: TypeORM's type "${String(type)}" is not supported; use 'postgres' (pg), 'mysql' or 'mariadb' (mysql2) or 'better-sqlite3', or pass { dialect: 'postgres' | 'mysql' | 'sqlite' } for a type whose connections are pg's, mysql2's or better-sqlite3's`,
  );
}

/** `manager.dataSource` in TypeORM 1.x, `manager.connection` in 0.3. */
function dataSourceOf(manager: EntityManager): unknown {
  const owner = manager as unknown as { dataSource?: unknown; connection?: unknown };
  return owner.dataSource ?? owner.connection;
}

function isDataSource(value: unknown): value is DataSource {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<DataSource>;
  return (
    typeof candidate.createQueryRunner === 'function' &&
    typeof candidate.transaction === 'function' &&
    typeof candidate.options === 'object' &&
    typeof candidate.driver === 'object'
  );
}

function isEntityManager(value: unknown): value is EntityManager {
  if (typeof value !== 'object' || value === null || isDataSource(value)) return false;
  const candidate = value as Partial<EntityManager>;
  return (
    typeof candidate.transaction === 'function' &&
    typeof candidate.getRepository === 'function' &&
    typeof candidate.query === 'function'
  );
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
