import { ConfigError } from '../../core/errors.js';
import type { Driver } from '../../seam/driver.js';
import type { SqlConnection } from '../../seam/sql-connection.js';
import { flavourDriver, flavourOf, knownFlavourOf } from './flavour.js';
import { isDrizzle, sessionClientOf, transactionForm } from './session.js';

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
  const native = flavourDriver(flavour, db, options);
  type Tx = Db | DrizzleTransactionOf<Db>;
  type HandlerTx = DrizzleHandlerTxOf<Db>;

  const driver: DrizzleDriver<Db> = {
    dialect: native.dialect,
    connection: (tx: Tx) => {
      if (!isDrizzle(tx)) {
        throw new ConfigError(
          `enqueue: pass the tx of ${transactionForm(flavour)} (or the Drizzle db itself), not a native client`,
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
