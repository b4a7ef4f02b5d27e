// The one shape in which a native client (pg, postgres.js, mysql2, better-sqlite3) offers its
// connections to the drivers built on it: the native drivers themselves, and the ORM drivers
// (knex, TypeORM, Drizzle) that hold such connections. Also `runAndSession`, for drivers whose
// `run` and `session` are the same "one connection of the pool, outside any transaction".
import type { Dialect, Driver, DriverSession } from '../../seam/driver.js';
import type { SqlConnection } from '../../seam/sql-connection.js';

/**
 * How async-task runs its statements on one kind of native connection. `Raw` is what the
 * client hands out (a pg `PoolClient`, a mysql2 connection, a better-sqlite3 `Database`, …);
 * it is not checked here: callers check what their users pass before wrapping it.
 */
export interface NativeConnections<Raw = unknown> {
  readonly dialect: Dialect;
  /** `raw` as a SqlConnection; the caller keeps ownership (nothing is released or ended). */
  connection(raw: Raw): SqlConnection;
  /**
   * Rolls back whatever transaction `raw` may be left in (a no-op when there is none), before it
   * goes back to its pool.
   */
  endTransaction(raw: Raw): Promise<void>;
  /** Present where the client can LISTEN: `Driver.listen`, on connections of its own. */
  readonly listen?: NonNullable<Driver<unknown>['listen']>;
}

/** `run` and `session` of a driver for which both are `borrow`: `fn` on one pooled connection. */
export function runAndSession(borrow: DriverSession): Pick<Driver<unknown>, 'run' | 'session'> {
  return { run: borrow, session: borrow };
}
