import type { DataSource, EntityManager } from 'typeorm';
import { ConfigError } from '../../core/errors.js';
import type { Driver } from '../../seam/driver.js';
import type { SqlConnection } from '../../seam/sql-connection.js';
import { asDatabaseError, separatingErrors } from '../internal/client-errors.js';
import { withSqlTransactions } from '../internal/sql-transaction.js';
import {
  borrow,
  dataSourceOf,
  detectDialect,
  isDataSource,
  isEntityManager,
  nativeConnectionOf,
} from './data-source.js';
import { nativeFor } from './native.js';

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
        return await fn(native.connection(raw));
      } catch (error) {
        // Never hand a connection back inside a transaction someone forgot to end.
        await native.endTransaction(raw).catch(() => undefined);
        throw error;
      }
    });

  const transaction = <T>(
    fn: (connection: SqlConnection, tx: EntityManager) => Promise<T>,
  ): Promise<T> =>
    separatingErrors(
      (inner) =>
        dataSource.transaction(async (manager) => {
          const raw = await nativeConnectionOf(manager.queryRunner!);
          return inner(() => fn(native.connection(raw), manager));
        }),
      (error) => asDatabaseError('TypeORM could not begin or commit the transaction', error),
    );

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
          onConnectionOf(tx, (raw) => native.connection(raw).query(statement, params)),
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
