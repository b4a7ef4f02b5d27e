import type { Driver } from '../../src/seam/driver.js';

/**
 * One database family and client, as the conformance suite sees it. Every behaviour test runs
 * once per fixture; a fixture that cannot do something says so in `skips` with the reason.
 */
export interface DialectFixture {
  /** e.g. `postgres/pg`, `sqlite/better-sqlite3`, `mysql/mysql2`. */
  readonly label: string;
  readonly dialect: 'postgres' | 'mysql' | 'sqlite';
  /** Behaviours this fixture cannot have, with the reason printed in the test name. */
  readonly skips?: Partial<Record<SkippableBehaviour, string>>;
  /**
   * Set (with the reason) where transactions waiting on another's idempotence token may be chosen
   * as deadlock victims when that holder rolls back, so the application must retry them.
   */
  readonly tokenRollbackDeadlocks?: string;
  /** A new isolated table: its own schema, database or file. */
  setup(options?: HarnessOptions): Promise<Harness>;
}

export interface HarnessOptions {
  /**
   * How many connections the harness's pool (and `transaction`) must be able to hold open at
   * once; races that keep many transactions open together ask for more than the default.
   * Ignored where the database has one connection (SQLite).
   */
  readonly connections?: number;
}

export type SkippableBehaviour =
  | 'savepoints'
  | 'concurrentTransactions'
  | 'listen'
  /** An async encryptor used inside a client transaction. */
  | 'asyncEncryptorInTransaction'
  /** The heavy drain and kill -9 runs of worker-processes.test.ts (minutes per fixture). */
  | 'multiProcessWorkers';

export interface Harness {
  /** The driver over this harness's own pool/database; typed loosely so one suite drives them all. */
  readonly driver: Driver<unknown, unknown>;
  /** Table name to give AsyncTask (schema-qualified where the dialect has schemas). */
  readonly table: string;
  /** What enqueue accepts outside a transaction (the pool, or the database). */
  readonly pool: unknown;
  /** Runs `fn` in a client transaction: commit when it returns, rollback when it throws. */
  transaction<T>(fn: (tx: unknown) => Promise<T>): Promise<T>;
  /** Runs `fn` inside a savepoint of `tx` and rolls the savepoint back. */
  rolledBackSavepoint(tx: unknown, fn: (tx: unknown) => Promise<void>): Promise<void>;
  /** The stored `method_args` text of an attempt, read with plain SQL. */
  rawMethodArgs(id: string): Promise<string | null>;
  /** Number of rows in the attempts table. */
  countAttempts(): Promise<number>;
  /** Sets `scheduled_at` of an attempt `ms` into the past (to make retries due now). */
  makeDue(id: string): Promise<void>;
  /** Sets `locked_until` of a running attempt into the past (to simulate a dead worker). */
  expireLease(id: string): Promise<void>;
  /** Creates `side_effects(key text primary key)` beside the attempts table. */
  createSideTable(): Promise<void>;
  /** Inserts `key` into the side table using a handler's transaction object (`ctx.transaction`). */
  insertSide(handlerTx: unknown, key: string): Promise<void>;
  sideKeys(): Promise<string[]>;
  /**
   * How many sessions are blocked right now waiting for a lock held by another transaction on
   * this harness's tables (e.g. an enqueue waiting on an uncommitted row with the same idempotence
   * token). Needed by fixtures without the `concurrentTransactions` skip.
   */
  lockWaiters(): Promise<number>;
  /** Environment for a child process that builds the same driver with `test/harness/child-driver.ts`. */
  childEnv(): Record<string, string>;
  close(): Promise<void>;
}
