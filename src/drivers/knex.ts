import { ConfigError } from '../core/errors.js';
import type { Driver } from '../seam/driver.js';
import type { SqlConnection } from '../seam/sql-connection.js';
import { betterSqlite3Connections } from './internal/better-sqlite3-connections.js';
import { asDatabaseError, separatingErrors, translated } from './internal/client-errors.js';
import { familyAmong, isDialectName, type DialectName } from './internal/dialect-names.js';
import { callbackMysqlConnections } from './internal/mysql2-connections.js';
import type { NativeConnections } from './internal/native-connections.js';
import { pgConnections } from './internal/pg-connections.js';
import { withSqlTransactions } from './internal/sql-transaction.js';
import { TransactionHolder } from './internal/transaction-holder.js';
import type { PgPoolClient } from './pg.js';

/**
 * The part of a Knex client (`knex.client`, `trx.client`) async-task uses: knex's own methods
 * that hand out the native connection (a `pg.Client`, a mysql2 `Connection`, a better-sqlite3
 * `Database`). A transaction's client always hands out the transaction's connection.
 */
export interface KnexClient {
  readonly config?: { readonly client?: unknown };
  acquireConnection(): Promise<unknown>;
  releaseConnection(connection: unknown): unknown;
}

/** The part of a `Knex` instance async-task uses; `Trx` is its `Knex.Transaction`. */
export interface KnexLike<Trx extends KnexTransactionLike = KnexTransactionLike> {
  readonly client: KnexClient;
  transaction<T>(
    scope: (trx: Trx) => Promise<T>,
    config?: { readonly connection?: unknown },
  ): Promise<T>;
}

/** The part of a `Knex.Transaction` async-task uses. */
export interface KnexTransactionLike extends KnexLike {
  isCompleted(): boolean;
}

/** The database families the Knex driver runs on. */
export type KnexDialectName = 'postgres' | 'mysql' | 'sqlite';

export interface KnexDriverOptions {
  /**
   * The database family, for a knex client async-task does not recognise by name (a custom
   * `Client` subclass). Its native connections must be those of pg, mysql/mysql2 or
   * better-sqlite3 respectively.
   * @defaultValue detected from `knex.client.config.client`
   */
  readonly dialect?: KnexDialectName;
  /**
   * PostgreSQL only: prepare each statement once per connection. Turn off behind PgBouncer in
   * transaction mode before 1.21.
   * @defaultValue true
   */
  readonly preparedStatements?: boolean;
}

/**
 * The driver for Knex 3 on PostgreSQL (`pg`), MySQL/MariaDB (`mysql2`, `mysql`) and SQLite
 * (`better-sqlite3`). Give it your `knex` instance; `enqueue` accepts the `trx` of
 * `knex.transaction(async (trx) => …)` (the normal case; await the enqueue inside the callback,
 * as any knex query) or `knex` itself for an enqueue outside any transaction. A nested
 * `trx.transaction()` is a savepoint: a task enqueued in it goes when it rolls back.
 *
 * async-task's SQL does not go through `knex.raw` (whose `?` bindings would mangle it): each
 * statement runs on the native connection knex holds for the transaction (or one it lends from
 * its pool), exactly as the pg, mysql2 and better-sqlite3 drivers run it. The worker side
 * (`runDue`, workers, `migrate`, management calls) borrows pooled connections from `knex`, and a
 * handler's `ctx.transaction` is a `knex.transaction` whose `trx` the handler receives.
 *
 * On SQLite the enqueue's INSERT runs on the better-sqlite3 connection of the `trx`, like the
 * better-sqlite3 driver's, but only once knex has handed that connection over, which it does
 * asynchronously: await `enqueue` inside the callback.
 *
 * On PostgreSQL workers LISTEN on a connection of their own, opened with knex's connection
 * settings (outside the pool). On MySQL and SQLite they poll. On SQLite keep knex's default pool
 * of one connection: the worker's work then waits for your transactions to finish, as SQLite
 * allows one writer at a time anyway.
 *
 * @example
 * import knex from 'knex';
 * import { knexDriver } from 'async-task/knex';
 * const db = knex({ client: 'pg', connection: process.env.DATABASE_URL });
 * const tasks = new AsyncTask({ driver: knexDriver(db), targets: [OrderClient] });
 * await db.transaction(async (trx) => {
 *   await trx('orders').insert({ number: 7 });
 *   await tasks.enqueue(trx, OrderClient.fulfill, { orderNumber: 7 });
 * });
 */
export function knexDriver<Trx extends KnexTransactionLike>(
  knex: KnexLike<Trx>,
  options: KnexDriverOptions = {},
): Driver<KnexLike, Trx> {
  if (!isKnex(knex)) {
    throw new ConfigError(
      "knexDriver: pass a knex instance (knex({ client: 'pg', connection })), not a pool or client",
    );
  }
  if ((knex as { isTransaction?: unknown }).isTransaction === true) {
    throw new ConfigError(
      'knexDriver: pass the knex instance, not a transaction (give transactions to enqueue)',
    );
  }
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError('knexDriver: options must be an object');
  }
  const native = nativeFor(options.dialect ?? detectDialect(knex.client), knex.client, options);
  const wrapped = new WeakMap<object, SqlConnection>();
  const wrap = (raw: unknown): SqlConnection => {
    if (typeof raw !== 'object' || raw === null) return native.connection(raw);
    let connection = wrapped.get(raw);
    if (!connection) wrapped.set(raw, (connection = native.connection(raw)));
    return connection;
  };
  // SQLite's pool has one connection: work started inside a `ctx.transaction` that borrows again
  // would wait for itself, so it reuses what its call chain holds.
  const held = native.dialect.name === 'sqlite' ? new TransactionHolder<Held<Trx>>() : undefined;

  const withPooled = async <T>(fn: (raw: unknown) => Promise<T>): Promise<T> => {
    const holding = held?.current();
    if (holding) return fn(holding.raw);
    const raw = await acquire(knex.client);
    try {
      return await fn(raw);
    } catch (error) {
      // Never hand a connection back inside a transaction someone forgot to end.
      await native.endTransaction(raw).catch(() => undefined);
      throw error;
    } finally {
      await Promise.resolve(knex.client.releaseConnection(raw)).catch(() => undefined);
    }
  };

  const transaction = <T>(fn: (connection: SqlConnection, tx: Trx) => Promise<T>): Promise<T> => {
    const holding = held?.current();
    return separatingErrors(
      (inner) => {
        const scope = async (trx: Trx): Promise<T> => {
          const raw = await acquire(trx.client);
          const body = (): Promise<T> => inner(() => fn(wrap(raw), trx));
          return held ? held.run({ raw, trx }, body) : body();
        };
        if (holding) return (holding.trx as unknown as KnexLike<Trx>).transaction(scope);
        return knex.transaction(scope);
      },
      (error) => asDatabaseError('knex could not begin or commit the transaction', error),
    );
  };

  const driver: Driver<KnexLike, Trx> = {
    dialect: native.dialect,
    connection: (tx) => {
      if (!isKnex(tx)) {
        throw new ConfigError(
          'enqueue: pass the trx of knex.transaction(async (trx) => …), or the knex instance',
        );
      }
      return withSqlTransactions(native.dialect.name, {
        query: (statement, params) =>
          onConnectionOf(tx, (raw) => wrap(raw).query(statement, params)),
      });
    },
    run: (fn) => withPooled((raw) => fn(wrap(raw))),
    session: (fn) => withPooled((raw) => fn(wrap(raw))),
    transaction,
  };
  if (native.listen) return { ...driver, listen: native.listen };
  return driver;
}

interface Held<Trx> {
  readonly raw: unknown;
  readonly trx: Trx;
}

/** The native connections knex holds for a family: pg clients, mysql(2) callback connections, better-sqlite3 databases. */
function nativeFor(
  dialect: KnexDialectName,
  client: KnexClient,
  options: KnexDriverOptions,
): NativeConnections {
  if (!isDialectName(dialect)) {
    throw new ConfigError(
      `knexDriver: dialect must be 'postgres', 'mysql' or 'sqlite', got ${String(dialect)}`,
    );
  }
  if (dialect === 'mysql') return callbackMysqlConnections;
  if (dialect === 'sqlite') return betterSqlite3Connections;
  // PostgreSQL: LISTEN connections are opened with knex's settings, outside its pool, and closed
  // after.
  const raw = client as KnexClient & {
    acquireRawConnection?: () => Promise<PgPoolClient>;
    destroyRawConnection?: (connection: unknown) => Promise<unknown>;
  };
  return pgConnections({
    preparedStatements: options.preparedStatements ?? true,
    listenPool: {
      connect: async () => {
        if (!raw.acquireRawConnection || !raw.destroyRawConnection) {
          throw new ConfigError('knexDriver: this knex client cannot open a connection to LISTEN');
        }
        const connection = await raw.acquireRawConnection.call(client);
        const destroy = raw.destroyRawConnection.bind(client);
        return Object.assign(connection, {
          release: () => void destroy(connection).catch(() => undefined),
        });
      },
    },
  });
}

const clientDialects: Readonly<Record<string, DialectName>> = {
  pg: 'postgres',
  postgres: 'postgres',
  postgresql: 'postgres',
  mysql: 'mysql',
  mysql2: 'mysql',
  'better-sqlite3': 'sqlite',
};

/** From `knex.client.config.client` when it is a name, else from the client class's own names. */
function detectDialect(client: KnexClient): KnexDialectName {
  const configured = client.config?.client;
  const meta = client as { driverName?: unknown; dialect?: unknown };
  const names = typeof configured === 'string' ? [configured] : [meta.driverName, meta.dialect];
  const family = familyAmong(clientDialects, names);
  if (family) return family;
  const shown = names.find((name) => typeof name === 'string') ?? 'unknown';
  throw new ConfigError(
    `knexDriver: the knex client "${String(shown)}" is not supported; use pg (postgres, postgresql), mysql2, mysql or better-sqlite3, or pass { dialect: 'postgres' | 'mysql' | 'sqlite' } for a client whose connections are theirs`,
  );
}

/** Runs `fn` on the native connection of `tx`: a transaction's own, or one lent by the pool. */
async function onConnectionOf<T>(tx: KnexLike, fn: (raw: unknown) => Promise<T>): Promise<T> {
  const trx = tx as Partial<KnexTransactionLike>;
  if (typeof trx.isCompleted === 'function') {
    if (trx.isCompleted()) {
      throw new ConfigError(
        'enqueue: this knex transaction has already committed or rolled back; enqueue inside its callback',
      );
    }
    // The transaction's client hands out its own connection and never releases it.
    return fn(await acquire(tx.client));
  }
  const raw = await acquire(tx.client);
  try {
    return await fn(raw);
  } finally {
    await Promise.resolve(tx.client.releaseConnection(raw)).catch(() => undefined);
  }
}

function acquire(client: KnexClient): Promise<unknown> {
  return translated("could not get a connection from knex's pool", () =>
    client.acquireConnection(),
  );
}

function isKnex(value: unknown): value is KnexLike {
  if ((typeof value !== 'function' && typeof value !== 'object') || value === null) return false;
  const candidate = value as Partial<KnexLike>;
  return (
    typeof candidate.transaction === 'function' &&
    typeof candidate.client === 'object' &&
    candidate.client !== null &&
    typeof candidate.client.acquireConnection === 'function' &&
    typeof candidate.client.releaseConnection === 'function'
  );
}
