import type { EntityManager } from 'typeorm';
import type { Dialect, Driver } from '../../seam/driver.js';
import type { SqlConnection, Statement } from '../../seam/sql-connection.js';

/** How async-task runs statements on one kind of native connection TypeORM holds. */
export interface Native {
  readonly dialect: Dialect;
  wrap(raw: unknown): SqlConnection;
  /** Rolls back whatever transaction `raw` may be left in, before it goes back to the pool. */
  endTransaction(raw: unknown): Promise<void>;
  /** SQLite: the worker side, on a connection of its own (see `sqliteWorker`). */
  readonly worker?: Pick<Driver<unknown, EntityManager>, 'run' | 'session' | 'transaction'>;
  listen?: NonNullable<Driver<unknown>['listen']>;
  close(): Promise<void>;
}

export const rollback: Statement = { name: '', text: 'ROLLBACK', returnsRows: false };
