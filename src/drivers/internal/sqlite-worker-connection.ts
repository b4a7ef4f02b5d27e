// The worker side of the better-sqlite3 driver (and of the ORM drivers over better-sqlite3): one
// connection of its own to the database file (or the shared in-memory `db`), an in-process lock
// around it, BEGIN IMMEDIATE transactions, and an asynchronous retry while another writer holds
// SQLite's write lock.
import { setTimeout as sleep } from 'node:timers/promises';
import { AsyncTaskError, ConfigError, DatabaseError } from '../../core/errors.js';
import type { SqlConnection, Statement } from '../../seam/sql-connection.js';
import type { BetterSqlite3Database } from '../better-sqlite3.js';
import { betterSqlite3Connection, executeOn } from './better-sqlite3-connections.js';
import { databaseError } from './client-errors.js';
import { withSqlTransactions } from './sql-transaction.js';
import { TransactionHolder } from './transaction-holder.js';

/**
 * The worker's connection and the in-process lock around it. The lock is re-entrant along one
 * async call chain (AsyncLocalStorage), so code inside a `ctx.transaction` that reads through
 * the driver (`tasks.get`) runs inside that transaction instead of waiting for it forever.
 */
export class SqliteWorkerConnection<Db extends BetterSqlite3Database> {
  readonly #shared: Db | undefined;
  readonly #open: (() => Db) | undefined;
  readonly #busyTimeoutMs: number;
  readonly #holder = new TransactionHolder<true>();
  #db: Db | undefined;
  #connection: SqlConnection | undefined;
  #tail: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(source: { shared: Db } | { open: () => Db }, busyTimeoutMs: number) {
    this.#shared = 'shared' in source ? source.shared : undefined;
    this.#open = 'open' in source ? source.open : undefined;
    this.#busyTimeoutMs = busyTimeoutMs;
  }

  /**
   * Runs `fn` with the connection, after whatever holds it now. `reentrant`: `fn` runs code that
   * may use the driver again (a transaction's body); such calls then run inside it.
   */
  async exclusive<T>(
    fn: (connection: SqlConnection, db: Db) => Promise<T>,
    reentrant = false,
  ): Promise<T> {
    if (this.#holder.current()) {
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
    try {
      const db = this.#connect();
      if (!reentrant) return await fn(this.#connectionFor(db), db);
      return await this.#holder.run(true, () => fn(this.#connectionFor(db), db));
    } finally {
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
    }, true);
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
      throw databaseError(
        "betterSqlite3Driver: could not open the worker's connection to the database file",
        error,
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
    if (this.#shared) return (this.#connection = betterSqlite3Connection(db));
    const busyTimeoutMs = this.#busyTimeoutMs;
    return (this.#connection = withSqlTransactions('sqlite', {
      async query(statement, params) {
        const deadline = Date.now() + busyTimeoutMs;
        for (let pause = 1; ; pause = Math.min(pause * 2, 50)) {
          try {
            return executeOn(db, statement, params);
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
      querySync: (statement, params) => executeOn(db, statement, params),
    }));
  }
}

const control = (name: string, text: string): Statement => ({ name, text, returnsRows: false });
const beginImmediate = control('async_task_begin_immediate', 'BEGIN IMMEDIATE');
const commit = control('async_task_commit', 'COMMIT');
const rollback = control('async_task_rollback', 'ROLLBACK');
const savepoint = control('async_task_savepoint', 'SAVEPOINT async_task');
const releaseSavepoint = control('async_task_release', 'RELEASE async_task');
const rollbackToSavepoint = control('async_task_rollback_to', 'ROLLBACK TO async_task');

/** SQLITE_BUSY and its extended codes (…_SNAPSHOT, …_RECOVERY): the write lock was taken. */
function isBusy(error: unknown): boolean {
  const cause = error instanceof AsyncTaskError ? error.cause : error;
  const code = (cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}
