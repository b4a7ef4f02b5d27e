import { ConfigError } from '../core/errors.js';
import type { Driver } from '../seam/driver.js';
import {
  betterSqlite3Connection,
  betterSqlite3Connections,
  isBetterSqlite3Database,
} from './internal/better-sqlite3-connections.js';
import { runAndSession } from './internal/native-connections.js';
import { SqliteWorkerConnection } from './internal/sqlite-worker-connection.js';

/** The part of a better-sqlite3 `Statement` async-task uses. */
export interface BetterSqlite3Statement {
  /** True when the statement returns rows (a SELECT, or a write with RETURNING). */
  readonly reader: boolean;
  all(...params: unknown[]): unknown[];
  run(...params: unknown[]): { changes: number };
}

/** The part of a better-sqlite3 `Database` async-task uses. */
export interface BetterSqlite3Database {
  /** The file name it was opened with. */
  readonly name: string;
  /** True for `:memory:` and for the anonymous temporary database (`''`). */
  readonly memory: boolean;
  readonly readonly: boolean;
  readonly open: boolean;
  readonly inTransaction: boolean;
  prepare(source: string): BetterSqlite3Statement;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  close(): unknown;
}

export interface BetterSqlite3DriverOptions<Db extends BetterSqlite3Database> {
  /**
   * How long a statement of the worker's connection waits for SQLite's write lock (held by
   * another connection or process) before failing with a `DatabaseError`. The wait is
   * asynchronous: the event loop, and a transaction your code holds open on `db` in the same
   * process, keep going while it waits.
   * @defaultValue 5000
   */
  readonly busyTimeoutMs?: number;
  /**
   * Opens the worker's own connection to the same file, for when reopening `db.name` with `db`'s
   * own constructor is not enough (extensions to load, a key pragma). The driver still sets
   * `journal_mode = WAL` on it, and closes it in `close()`; its other pragmas are yours.
   * @defaultValue `new (db.constructor)(db.name, { fileMustExist: true })`, with SQLite's default
   * 2 MB page cache (`cache_size = -2000`) instead of better-sqlite3's 16 MB
   */
  readonly openWorkerConnection?: () => Db;
}

/** Page cache of the worker connection the driver opens (`PRAGMA cache_size`: -KiB). */
const workerCacheSizeKib = -2000;

/** The better-sqlite3 driver: a `Driver` plus `close()` for the connection it opened. */
export interface BetterSqlite3Driver<
  Db extends BetterSqlite3Database = BetterSqlite3Database,
> extends Driver<Db, Db> {
  /**
   * Closes the worker connection this driver opened, after the work queued on it; never `db`.
   * Call it after stopping workers, before closing `db`.
   */
  close(): Promise<void>;
}

/**
 * The driver for better-sqlite3 (12.x). Give it your `Database`; `enqueue` accepts that same
 * `Database`, inside `db.transaction(() => …)` or not. better-sqlite3 is synchronous, and so is
 * the enqueue's INSERT: it happens before `enqueue` returns, inside the surrounding
 * `db.transaction`, and a bad argument or an SQL error throws there and rolls it back (you need
 * not, and cannot, await inside `db.transaction`).
 *
 * The worker side (`runDue`, `worker`, `migrate`, `get`/`list`/management, and each handler's
 * `ctx.transaction`) uses a second connection to the same file that the driver opens on first
 * use, in WAL mode, so its transactions never mix with what your code does on `db`. Work on that
 * connection runs one piece at a time (an in-process lock): `ctx.transaction` is
 * `BEGIN IMMEDIATE … COMMIT` (rolled back if `fn` throws) and hands the handler that connection,
 * on which it writes synchronously as usual. SQLite has one writer at a time, so keep
 * `ctx.transaction` short; and while one is open, write through its `tx` — a write through `db`
 * in the same process would wait for the lock without letting the event loop finish the
 * transaction, and fail after `db`'s own timeout.
 *
 * An in-memory database (`:memory:` or `''`) cannot be opened twice, so the worker side shares
 * `db` itself, under the same in-process lock. Then your code must not use `db` while a handler's
 * `ctx.transaction` is open (its statements would land in that transaction); enqueueing with the
 * handler's `tx` is fine.
 *
 * There is no LISTEN in SQLite: workers poll.
 *
 * @example
 * import Database from 'better-sqlite3';
 * import { betterSqlite3Driver } from 'async-task/better-sqlite3';
 * const db = new Database('app.db');
 * const tasks = new AsyncTask({ driver: betterSqlite3Driver(db), targets: [OrderClient] });
 * await tasks.migrate();
 * db.transaction(() => {
 *   const order = insertOrder.run({ number: 7 });
 *   void tasks.enqueue(db, OrderClient.fulfill, { orderNumber: 7 });
 * })();
 */
export function betterSqlite3Driver<Db extends BetterSqlite3Database>(
  db: Db,
  options: BetterSqlite3DriverOptions<Db> = {},
): BetterSqlite3Driver<Db> {
  if (!isBetterSqlite3Database(db)) {
    throw new ConfigError(
      "betterSqlite3Driver: pass a better-sqlite3 Database (new Database('app.db'))",
    );
  }
  if (!db.open) throw new ConfigError('betterSqlite3Driver: the database is closed');
  if (db.readonly) {
    throw new ConfigError(
      'betterSqlite3Driver: the database was opened read-only; async-task writes to it',
    );
  }
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
    throw new ConfigError(
      `betterSqlite3Driver: busyTimeoutMs must be a whole number of milliseconds, got ${busyTimeoutMs}`,
    );
  }
  const open =
    options.openWorkerConnection ??
    ((): Db => {
      const Database = (db as unknown as { constructor: new (file: string, o: object) => Db })
        .constructor;
      const connection = new Database(db.name, { fileMustExist: true, timeout: busyTimeoutMs });
      try {
        // better-sqlite3 gives every connection a 16 MB page cache; a drain's claims and writes
        // work at the front of the table and its indexes, and the pages it leaves are in the OS
        // cache anyway. SQLite's own default keeps the worker 16 MB smaller at the same speed.
        connection.pragma(`cache_size = ${workerCacheSizeKib}`);
      } catch (error) {
        connection.close();
        throw error;
      }
      return connection;
    });
  const worker = new SqliteWorkerConnection<Db>(
    db.memory ? { shared: db } : { open },
    busyTimeoutMs,
  );

  return {
    dialect: betterSqlite3Connections.dialect,
    connection: (tx) => {
      if (!isBetterSqlite3Database(tx)) {
        throw new ConfigError(
          'enqueue: pass the better-sqlite3 Database (the same `db`, inside db.transaction or not)',
        );
      }
      return betterSqlite3Connection(tx);
    },
    ...runAndSession((fn) => worker.exclusive((connection) => fn(connection))),
    transaction: (fn) => worker.transaction(fn),
    close: () => worker.close(),
  };
}
