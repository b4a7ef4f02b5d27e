import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { AsyncTaskError, ConfigError, DatabaseError } from '../core/errors.js';
import { sqliteDialect } from '../dialects/sqlite/index.js';
import type { Driver } from '../seam/driver.js';
import type { SqlConnection, SqlResult, Statement } from '../seam/sql-connection.js';
import { withSqlTransactions } from './internal/sql-transaction.js';

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
   * `journal_mode = WAL` on it, and closes it in `close()`.
   * @defaultValue `new (db.constructor)(db.name, { fileMustExist: true })`
   */
  readonly openWorkerConnection?: () => Db;
}

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
  if (!isDatabase(db)) {
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
      return new Database(db.name, { fileMustExist: true, timeout: busyTimeoutMs });
    });
  const worker = new WorkerConnection<Db>(db.memory ? { shared: db } : { open }, busyTimeoutMs);

  return {
    dialect: sqliteDialect,
    connection: (tx) => {
      if (!isDatabase(tx)) {
        throw new ConfigError(
          'enqueue: pass the better-sqlite3 Database (the same `db`, inside db.transaction or not)',
        );
      }
      return wrap(tx);
    },
    run: (fn) => worker.exclusive((connection) => fn(connection)),
    session: (fn) => worker.exclusive((connection) => fn(connection)),
    transaction: (fn) => worker.transaction(fn),
    close: () => worker.close(),
  };
}

/**
 * The worker's connection and the in-process lock around it. The lock is re-entrant along one
 * async call chain (AsyncLocalStorage), so code inside a `ctx.transaction` that reads through
 * the driver (`tasks.get`) runs inside that transaction instead of waiting for it forever.
 */
class WorkerConnection<Db extends BetterSqlite3Database> {
  readonly #shared: Db | undefined;
  readonly #open: (() => Db) | undefined;
  readonly #busyTimeoutMs: number;
  readonly #holder = new AsyncLocalStorage<{ active: boolean }>();
  #db: Db | undefined;
  #connection: SqlConnection | undefined;
  #tail: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(source: { shared: Db } | { open: () => Db }, busyTimeoutMs: number) {
    this.#shared = 'shared' in source ? source.shared : undefined;
    this.#open = 'open' in source ? source.open : undefined;
    this.#busyTimeoutMs = busyTimeoutMs;
  }

  /** Runs `fn` with the connection, after whatever holds it now. */
  async exclusive<T>(fn: (connection: SqlConnection, db: Db) => Promise<T>): Promise<T> {
    if (this.#holder.getStore()?.active) {
      const db = this.#connect();
      return fn(this.#connectionFor(db), db);
    }
    const previous = this.#tail;
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#tail = previous.then(() => mine);
    await previous;
    const hold = { active: true };
    try {
      const db = this.#connect();
      return await this.#holder.run(hold, () => fn(this.#connectionFor(db), db));
    } finally {
      hold.active = false;
      release();
    }
  }

  /** BEGIN IMMEDIATE … COMMIT, or a savepoint when the connection is already in a transaction. */
  transaction<T>(fn: (connection: SqlConnection, tx: Db) => Promise<T>): Promise<T> {
    return this.exclusive(async (connection, db) => {
      const nested = db.inTransaction;
      await connection.query(nested ? savepoint : beginImmediate, []);
      let result: T;
      try {
        result = await fn(connection, db);
        await connection.query(nested ? releaseSavepoint : commit, []);
      } catch (error) {
        if (db.inTransaction) {
          await connection
            .query(nested ? rollbackToSavepoint : rollback, [])
            .then(() => (nested ? connection.query(releaseSavepoint, []) : undefined))
            .catch(() => undefined);
        }
        throw error;
      }
      return result;
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#tail;
    if (this.#open && this.#db?.open) this.#db.close();
    this.#db = undefined;
    this.#connection = undefined;
  }

  #connect(): Db {
    if (this.#closed) {
      throw new ConfigError(
        'betterSqlite3Driver: the driver was closed; create a new one to use the database again',
      );
    }
    if (this.#db) return this.#db;
    if (this.#shared) return (this.#db = this.#shared);
    let db: Db | undefined;
    try {
      db = this.#open!();
      // The lock wait for this one-off switch is SQLite's own; from then on waits are ours
      // (asynchronous, see #connectionFor). WAL lets readers and the one writer proceed together,
      // and is a property of the file, so `db` gets it too.
      db.pragma(`busy_timeout = ${this.#busyTimeoutMs}`);
      db.pragma('journal_mode = WAL');
      db.pragma('busy_timeout = 0');
    } catch (error) {
      if (db?.open) db.close();
      throw new DatabaseError(
        `betterSqlite3Driver: could not open the worker's connection to the database file: ${messageOf(error)}`,
        { cause: error },
      );
    }
    return (this.#db = db);
  }

  /**
   * Statements on the worker's connection. Outside a transaction, a statement that finds the
   * write lock taken (SQLITE_BUSY) has done nothing, so it is retried after a short, growing,
   * asynchronous pause until `busyTimeoutMs` has passed.
   */
  #connectionFor(db: Db): SqlConnection {
    if (this.#connection) return this.#connection;
    if (this.#shared) return (this.#connection = wrap(db));
    const busyTimeoutMs = this.#busyTimeoutMs;
    return (this.#connection = withSqlTransactions('sqlite', {
      async query(statement, params) {
        const deadline = Date.now() + busyTimeoutMs;
        for (let pause = 1; ; pause = Math.min(pause * 2, 50)) {
          try {
            return execute(db, statement, params);
          } catch (error) {
            if (!isBusy(error) || db.inTransaction) throw error;
            if (Date.now() + pause > deadline) {
              throw new DatabaseError(
                `SQLite stayed locked by another writer for more than busyTimeoutMs (${busyTimeoutMs} ms); a long transaction on this database is holding its only write lock`,
                { cause: (error as DatabaseError).cause },
              );
            }
          }
          await sleep(pause);
        }
      },
      querySync: (statement, params) => execute(db, statement, params),
    }));
  }
}

const beginImmediate: Statement = {
  name: 'async_task_begin_immediate',
  text: 'BEGIN IMMEDIATE',
  returnsRows: false,
};
const commit: Statement = { name: 'async_task_commit', text: 'COMMIT', returnsRows: false };
const rollback: Statement = { name: 'async_task_rollback', text: 'ROLLBACK', returnsRows: false };
const savepoint: Statement = {
  name: 'async_task_savepoint',
  text: 'SAVEPOINT async_task',
  returnsRows: false,
};
const releaseSavepoint: Statement = {
  name: 'async_task_release',
  text: 'RELEASE async_task',
  returnsRows: false,
};
const rollbackToSavepoint: Statement = {
  name: 'async_task_rollback_to',
  text: 'ROLLBACK TO async_task',
  returnsRows: false,
};

interface Prepared {
  readonly statement: BetterSqlite3Statement;
  /** better-sqlite3 binds `?NNN` by name, from an object keyed by the number. */
  readonly numbered: boolean;
}

/** Each named statement is prepared once per connection. */
const statementCache = new WeakMap<BetterSqlite3Database, Map<string, Prepared>>();
const connections = new WeakMap<BetterSqlite3Database, SqlConnection>();

/** The caller's `db`, as async-task runs SQL on it: synchronously, wrapped or not in a promise. */
function wrap(db: BetterSqlite3Database): SqlConnection {
  let connection = connections.get(db);
  if (!connection) {
    connection = withSqlTransactions('sqlite', {
      // The statement runs before the promise is returned; the promise only carries the outcome.
      query: (statement, params) =>
        new Promise((resolve) => resolve(execute(db, statement, params))),
      querySync: (statement, params) => execute(db, statement, params),
      inTransaction: () => db.inTransaction,
    });
    connections.set(db, connection);
  }
  return connection;
}

function prepare(db: BetterSqlite3Database, statement: Statement): Prepared {
  let cache = statementCache.get(db);
  const cached = statement.name === '' ? undefined : cache?.get(statement.name);
  if (cached) return cached;
  const prepared = {
    statement: db.prepare(statement.text),
    numbered: /\?\d/.test(statement.text),
  };
  if (statement.name !== '') {
    if (!cache) statementCache.set(db, (cache = new Map<string, Prepared>()));
    cache.set(statement.name, prepared);
  }
  return prepared;
}

function execute(
  db: BetterSqlite3Database,
  statement: Statement,
  params: readonly unknown[],
): SqlResult {
  try {
    const prepared = prepare(db, statement);
    const args = prepared.numbered
      ? [Object.fromEntries(params.map((value, index) => [String(index + 1), value]))]
      : params;
    if (prepared.statement.reader) {
      const rows = prepared.statement.all(...args) as Record<string, unknown>[];
      return { rows, rowCount: rows.length };
    }
    return { rows: [], rowCount: prepared.statement.run(...args).changes };
  } catch (error) {
    if (error instanceof AsyncTaskError) throw error;
    throw new DatabaseError(`SQLite refused the statement: ${messageOf(error)}`, {
      cause: error,
    });
  }
}

function isDatabase(value: unknown): value is BetterSqlite3Database {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as BetterSqlite3Database).prepare === 'function' &&
    typeof (value as BetterSqlite3Database).pragma === 'function' &&
    'memory' in value
  );
}

/** SQLITE_BUSY and its extended codes (…_SNAPSHOT, …_RECOVERY): the write lock was taken. */
function isBusy(error: unknown): boolean {
  const cause = error instanceof AsyncTaskError ? error.cause : error;
  const code = (cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
