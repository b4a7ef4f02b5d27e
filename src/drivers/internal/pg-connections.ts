// node-postgres connections as async-task runs them: `pgConnections` (the native-connection
// shape, for the pg driver and the ORM drivers that hold pg clients) and LISTEN on a connection
// of a pool. Statements are prepared once per connection when `preparedStatements` is on.
import { ConfigError } from '../../core/errors.js';
import { postgresDialect } from '../../dialects/postgres/index.js';
import type { Unlisten } from '../../seam/driver.js';
import type { SqlResult, Statement } from '../../seam/sql-connection.js';
import type { PgPoolClient, PgQueryable } from '../pg.js';
import { asDatabaseError, databaseError } from './client-errors.js';
import type { NativeConnections } from './native-connections.js';
import { rollback, withSqlTransactions } from './sql-transaction.js';

/** A pooled client is an EventEmitter; kept out of `PgPoolClient` so pg's own typings fit it. */
export interface PgNotifyingClient extends PgPoolClient {
  on(
    event: 'notification',
    listener: (message: { channel: string; payload?: string }) => void,
  ): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  removeListener(event: 'error', listener: (error: Error) => void): unknown;
  removeAllListeners(event?: string): unknown;
}

/** Where LISTEN connections come from: each is kept for one subscription, then destroyed. */
export interface PgListenPool {
  connect(): Promise<PgPoolClient>;
  /** Set when the connection is one of a pg.Pool's own, which then counts in its `max`. */
  readonly options?: { readonly max?: number } | undefined;
}

export interface PgConnectionsOptions {
  /** Prepare each named statement once per connection. */
  readonly preparedStatements: boolean;
  /** Gives the connections `listen` when present. */
  readonly listenPool?: PgListenPool;
}

/** pg clients (`Pool`, `PoolClient`, `Client`) as SqlConnections. */
export function pgConnections(options: PgConnectionsOptions): NativeConnections<PgQueryable> {
  const prepare = options.preparedStatements;
  const connection = (client: PgQueryable) =>
    withSqlTransactions('postgres', {
      query: (statement, params) => runQuery(client, statement, params, prepare),
    });
  const listenPool = options.listenPool;
  return {
    dialect: postgresDialect,
    connection,
    endTransaction: async (client) => {
      await connection(client).query(rollback, []);
    },
    ...(listenPool && {
      listen: (channel, onNotify, onError) => pgListen(listenPool, channel, onNotify, onError),
    }),
  };
}

async function runQuery(
  client: PgQueryable,
  statement: Statement,
  params: readonly unknown[],
  prepare: boolean,
): Promise<SqlResult> {
  try {
    const result = await client.query(
      prepare && statement.name !== ''
        ? { name: statement.name, text: statement.text, values: params as unknown[] }
        : { text: statement.text, values: params as unknown[] },
    );
    return { rows: result.rows, rowCount: result.rowCount ?? 0 };
  } catch (error) {
    throw asDatabaseError('PostgreSQL refused the statement', error);
  }
}

/** LISTEN on `channel` on a connection of `pool`, kept until unlisten and then destroyed. */
export async function pgListen(
  pool: PgListenPool,
  channel: string,
  onNotify: (payload: string) => void,
  onError: (error: Error) => void,
): Promise<Unlisten> {
  const max = pool.options?.max;
  if (max !== undefined && max < 2) {
    // Every claim and write would wait forever for a second connection, and so would the app.
    throw new ConfigError(
      `worker: the pg pool has max: ${max}, and a worker holds one of its connections for LISTEN while it runs, which leaves none for its claims and writes; give the pool max: 2 or more (pg's default is 10), or start the worker with pollOnly: true`,
    );
  }
  const client = (await pool.connect()) as PgNotifyingClient;
  let released = false;
  const release = (error?: Error): void => {
    if (released) return;
    released = true;
    client.removeAllListeners('notification');
    client.removeAllListeners('error');
    client.release(error ?? true);
  };
  client.on('notification', (message) => {
    if (message.channel === channel) onNotify(message.payload ?? '');
  });
  client.on('error', (error) => {
    release(error);
    onError(databaseError(`the LISTEN connection on ${channel} failed`, error));
  });
  try {
    await client.query({ text: `LISTEN "${channel}"` });
  } catch (error) {
    release(error instanceof Error ? error : new Error(String(error)));
    throw databaseError(`could not LISTEN on ${channel}`, error);
  }
  return async () => {
    if (released) return;
    await client.query({ text: `UNLISTEN "${channel}"` }).catch(() => undefined);
    // Destroy rather than reuse: a pooled connection must not carry a LISTEN to the next user.
    release();
  };
}
