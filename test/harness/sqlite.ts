import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  betterSqlite3Driver,
  type BetterSqlite3Database,
  type BetterSqlite3Driver,
  type BetterSqlite3DriverOptions,
  type BetterSqlite3Statement,
} from '../../src/drivers/better-sqlite3.js';
import type { DialectFixture, Harness } from './fixture.js';

/** better-sqlite3 as the tests use it: the driver's structural subset plus what tests call. */
export interface TestDatabase extends BetterSqlite3Database {
  prepare(source: string): BetterSqlite3Statement & { get(...params: unknown[]): unknown };
  exec(source: string): this;
  /** Wraps `fn` in BEGIN … COMMIT (ROLLBACK if it throws); synchronous, like the real one. */
  transaction<F extends (...args: never[]) => unknown>(fn: F): F;
}

interface TestDatabaseConstructor {
  new (file: string, options?: { timeout?: number; fileMustExist?: boolean }): TestDatabase;
}

/** better-sqlite3 ships no types and @types/better-sqlite3 is not installed: typed by hand. */
export const Database = createRequire(import.meta.url)('better-sqlite3') as TestDatabaseConstructor;

/** The current time in integer milliseconds, as the dialect computes it. */
const nowMs = `CAST(round(unixepoch('subsec') * 1000) AS INTEGER)`;

/** A fresh database file in its own temporary folder, removed on close. */
export function tempDatabaseFile(): { file: string; remove: () => void } {
  const folder = mkdtempSync(join(tmpdir(), 'async-task-sqlite-'));
  return {
    file: join(folder, 'test.db'),
    remove: () => rmSync(folder, { recursive: true, force: true }),
  };
}

/** `fn`'s result, or its error, as a promise (the Harness interface is asynchronous). */
function settle<T>(fn: () => T): Promise<T> {
  return new Promise((resolve) => resolve(fn()));
}

/** A database file of its own per harness, so test files run in parallel without seeing each other. */
export function sqliteHarness(
  options: BetterSqlite3DriverOptions<TestDatabase> = {},
): Promise<
  Harness & { pool: TestDatabase; file: string; sqliteDriver: BetterSqlite3Driver<TestDatabase> }
> {
  const { file, remove } = tempDatabaseFile();
  const db = new Database(file);
  const driver = betterSqlite3Driver(db, options);
  const table = 'async_task_attempts';
  const one = <T>(sql: string, ...params: unknown[]): T | undefined =>
    db.prepare(sql).get(...params) as T | undefined;
  return Promise.resolve({
    pool: db,
    file,
    sqliteDriver: driver,
    driver,
    table,
    async transaction(fn) {
      db.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(db);
        db.exec('COMMIT');
        return result;
      } catch (error) {
        if (db.inTransaction) db.exec('ROLLBACK');
        throw error;
      }
    },
    async rolledBackSavepoint(tx, fn) {
      const savepointDb = tx as TestDatabase;
      savepointDb.exec('SAVEPOINT nested');
      await fn(savepointDb);
      savepointDb.exec('ROLLBACK TO nested');
      savepointDb.exec('RELEASE nested');
    },
    rawMethodArgs: (id) =>
      Promise.resolve(
        one<{ method_args: string | null }>(`SELECT method_args FROM ${table} WHERE id = ?`, id)
          ?.method_args ?? null,
      ),
    countAttempts: () =>
      Promise.resolve(one<{ n: number }>(`SELECT count(*) AS n FROM ${table}`)?.n ?? 0),
    makeDue: (id) =>
      settle(() => {
        db.prepare(`UPDATE ${table} SET scheduled_at = ${nowMs} - 1000 WHERE id = ?`).run(id);
      }),
    expireLease: (id) =>
      settle(() => {
        db.prepare(`UPDATE ${table} SET locked_until = ${nowMs} - 1000 WHERE id = ?`).run(id);
      }),
    createSideTable: () =>
      settle(() => {
        db.exec('CREATE TABLE side_effects (key TEXT PRIMARY KEY) STRICT');
      }),
    insertSide: (handlerTx, key) =>
      settle(() => {
        (handlerTx as TestDatabase).prepare('INSERT INTO side_effects (key) VALUES (?)').run(key);
      }),
    sideKeys: () =>
      settle(() =>
        (db.prepare('SELECT key FROM side_effects ORDER BY key').all() as { key: string }[]).map(
          (row) => row.key,
        ),
      ),
    // SQLite has no row locks and no view of waiting sessions; this fixture skips
    // `concurrentTransactions`, the only tests that ask.
    lockWaiters: () => Promise.resolve(0),
    childEnv() {
      return {
        ASYNC_TASK_CHILD_DIALECT: 'sqlite',
        ASYNC_TASK_CHILD_URL: file,
        ASYNC_TASK_CHILD_TABLE: table,
      };
    },
    async close() {
      await driver.close();
      db.close();
      remove();
    },
  });
}

export const sqliteFixture: DialectFixture = {
  label: 'sqlite/better-sqlite3',
  dialect: 'sqlite',
  skips: {
    concurrentTransactions:
      'SQLite has one writer per database file: a second transaction cannot write until the first commits (https://www.sqlite.org/lockingv3.html)',
    listen: 'SQLite has no LISTEN/NOTIFY; the better-sqlite3 driver leaves Driver.listen undefined',
    asyncEncryptorInTransaction:
      'better-sqlite3 transactions are synchronous, so enqueue refuses an async encryptor inside one (ConfigError); test/integration/sqlite.test.ts covers it',
  },
  setup: () => sqliteHarness(),
};
