import { AsyncTaskError, ConfigError } from '../core/errors.js';
import type { Driver } from '../seam/driver.js';
import { databaseError } from './internal/client-errors.js';
import { runAndSession } from './internal/native-connections.js';
import { pgConnections, pgListen, type PgNotifyingClient } from './internal/pg-connections.js';

/** The part of `pg.Pool`, `pg.PoolClient` and `pg.Client` async-task uses. */
export interface PgQueryable {
  query(config: {
    text: string;
    values?: unknown[];
    name?: string;
  }): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;
}

/** The part of `pg.PoolClient` async-task uses. */
export interface PgPoolClient extends PgQueryable {
  release(error?: Error | boolean): void;
}

/** The part of `pg.Pool` async-task uses. */
export interface PgPool extends PgQueryable {
  connect(): Promise<PgPoolClient>;
  readonly idleCount: number;
  /** pg.Pool's settings: a worker's LISTEN holds one of its `max` connections. */
  readonly options?: { readonly max?: number };
}

export interface PgDriverOptions {
  /**
   * Prepare each statement once per connection (named statements). Turn off behind PgBouncer
   * in transaction mode before 1.21, which cannot route prepared statements.
   * @defaultValue true
   */
  readonly preparedStatements?: boolean;
}

/**
 * The driver for node-postgres. Give it the `pg.Pool` the worker should use; `enqueue` accepts
 * a `PoolClient`/`Client` inside `BEGIN` (the normal case) or the pool itself.
 *
 * @example
 * import pg from 'pg';
 * import { pgDriver } from 'async-task/pg';
 * const tasks = new AsyncTask({ driver: pgDriver(new pg.Pool()), targets: [OrderClient] });
 */
export function pgDriver(
  pool: PgPool,
  options: PgDriverOptions = {},
): Driver<PgQueryable, PgPoolClient> {
  if (
    typeof pool !== 'object' ||
    pool === null ||
    typeof pool.connect !== 'function' ||
    !('idleCount' in pool)
  ) {
    throw new ConfigError(
      'pgDriver: pass a pg.Pool (new pg.Pool({ connectionString })), not a Client',
    );
  }
  const native = pgConnections({
    preparedStatements: options.preparedStatements ?? true,
  });
  const withClient = async <T>(fn: (client: PgPoolClient) => Promise<T>): Promise<T> => {
    const client = await pool.connect().catch((error: unknown) => {
      throw databaseError('could not get a connection from the pool', error);
    });
    let broken: Error | undefined;
    // A checked-out client has no 'error' listener of the pool's: without one, a connection that
    // dies between two queries (terminated backend, server restart) would be an uncaught
    // exception. Note it instead; the next query fails, and the client is destroyed on release.
    const onError = (error: Error): void => {
      broken ??= error;
    };
    (client as PgNotifyingClient).on('error', onError);
    try {
      return await fn(client);
    } catch (error) {
      if (isConnectionError(error))
        broken ??= error instanceof Error ? error : new Error(String(error));
      throw error;
    } finally {
      (client as PgNotifyingClient).removeListener('error', onError);
      client.release(broken);
    }
  };
  return {
    dialect: native.dialect,
    connection: (tx) => {
      // Checked here, not at the first query: there a wrong object reads as a database refusal.
      const given: unknown = tx;
      if (
        typeof given !== 'object' ||
        given === null ||
        typeof (given as Partial<PgQueryable>).query !== 'function'
      ) {
        throw new ConfigError(
          'enqueue: pass your node-postgres transaction (the PoolClient of pool.connect(), inside BEGIN) as the first argument, or the pg.Pool for a non-transactional enqueue',
        );
      }
      refuseOutsideTransaction(given);
      return native.connection(tx);
    },
    ...runAndSession((fn) => withClient((client) => fn(native.connection(client)))),
    transaction: (fn) =>
      withClient((client) =>
        native.connection(client).transaction((connection) => fn(connection, client)),
      ),
    listen: (channel, onNotify, onError) => pgListen(pool, channel, onNotify, onError),
  };
}

/**
 * A client (not a pool) must be inside its transaction. One that is idle had its transaction end
 * or never begin, and a PoolClient kept past `release()` reads the same way: the row would commit
 * on its own, or inside whoever checked the connection out next. A mysql2 object has `query`
 * too, and would fail later as a database refusal.
 */
function refuseOutsideTransaction(given: object): void {
  if (typeof (given as { execute?: unknown }).execute === 'function') {
    throw new ConfigError(
      'enqueue: this is not a node-postgres client (it has mysql2’s execute()); pass the PoolClient of pool.connect() inside BEGIN, or the pg.Pool, of the database pgDriver was made for',
    );
  }
  if (!('_txStatus' in given)) return; // a pg.Pool, or a client pg does not describe (pg.native)
  // Queries queued ahead (a BEGIN sent and not yet answered): the status is not known yet, and
  // pg runs this enqueue after them, inside that transaction. pg 8.21+ keeps them in `_` fields
  // (the plain ones are deprecated getters that warn).
  const client = given as Record<string, unknown>;
  const queue = ('_queryQueue' in client ? client['_queryQueue'] : client['queryQueue']) as
    unknown[] | undefined;
  const active = '_activeQuery' in client ? client['_activeQuery'] : client['activeQuery'];
  if ((queue?.length ?? 0) > 0 || (active ?? null) !== null) return;
  const status = client['_txStatus'];
  if (status === null) {
    throw new ConfigError(
      'enqueue: this node-postgres client is not connected; await client.connect() and BEGIN before enqueueing, or pass the pg.Pool',
    );
  }
  if (status === 'I') {
    throw new ConfigError(
      'enqueue: this node-postgres client is not inside a transaction (no BEGIN was sent, its transaction has ended, or it was released to the pool); enqueue between BEGIN and COMMIT on the client you checked out, or pass the pg.Pool for an enqueue that commits on its own',
    );
  }
}

/**
 * Errors after which the connection must not go back to the pool. `query_timeout` ("Query read
 * timeout") leaves the statement running on the connection, and a ROLLBACK queued behind it is
 * dropped: once the network answers, the connection would sit inside that transaction and the
 * next user's statements would run in it, never committed.
 */
function isConnectionError(error: unknown): boolean {
  const cause = error instanceof AsyncTaskError ? error.cause : error;
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && /^(08|57P)/.test(code)) return true;
  return (
    cause instanceof Error &&
    /Connection terminated|ECONNRESET|EPIPE|Query read timeout/.test(cause.message)
  );
}
