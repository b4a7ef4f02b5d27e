import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { ConfigError } from '../../core/errors.js';
import { sqliteDialect } from '../../dialects/sqlite/index.js';
import type { SqlConnection } from '../../seam/sql-connection.js';
import {
  betterSqlite3Driver,
  type BetterSqlite3Database,
  type BetterSqlite3Driver,
} from '../better-sqlite3.js';
import { betterSqlite3Connection } from '../internal/better-sqlite3-connections.js';
import { withSqlTransactions } from '../internal/sql-transaction.js';
import type { Native } from './native.js';

/**
 * SQLite: statements of `enqueue` run on TypeORM's one connection (the caller's transaction);
 * the worker side is the better-sqlite3 driver's, over a second connection it opens to the file.
 */
export function sqliteNative(dataSource: DataSource): Native {
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
  return {
    dialect: sqliteDialect,
    connection: (db) => {
      const database = db as BetterSqlite3Database;
      let connection = wrapped.get(database);
      if (!connection) {
        // Only `query`: TypeORM's transactions are asynchronous (an async encryptor is fine).
        const sync = betterSqlite3Connection(database);
        connection = withSqlTransactions('sqlite', {
          query: (statement, params) => sync.query(statement, params),
        });
        wrapped.set(database, connection);
      }
      return connection;
    },
    // The worker side never borrows TypeORM's connection.
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
