import { ConfigError } from '../../core/errors.js';
import type { Driver } from '../../seam/driver.js';
import type { SqlConnection } from '../../seam/sql-connection.js';
import { prismaConnection } from './connection.js';
import { detectDialect, dialectFor, isClient, isQueryable } from './dialect.js';
import { TransactionHolder } from '../internal/transaction-holder.js';
import {
  inTransaction,
  sessionTransaction,
  transactionOptionsOf,
  withIsolation,
  workTransaction,
  type ClientCalls,
} from './transactions.js';

export { PrismaRawQueryError } from './raw-query-error.js';

/**
 * The part of a Prisma Client, and of the `tx` of its interactive transactions, async-task uses:
 * raw statements with positional parameters (Prisma 6.16+ and 7).
 */
export interface PrismaQueryable {
  $queryRawUnsafe(query: string, ...values: unknown[]): PromiseLike<unknown>;
  $executeRawUnsafe(query: string, ...values: unknown[]): PromiseLike<number>;
}

/** What async-task passes to `$transaction` (Prisma's own option names). */
export interface PrismaTransactionOptions {
  /** How long to wait for a connection (or, on SQLite, for the open transaction) to begin. */
  readonly maxWait?: number;
  /** How long the transaction may stay open before Prisma rolls it back. */
  readonly timeout?: number;
  readonly isolationLevel?: 'ReadUncommitted' | 'ReadCommitted' | 'RepeatableRead' | 'Serializable';
}

/** The part of a `PrismaClient` (generated, or extended with `$extends`) async-task uses. */
export interface PrismaClientLike extends PrismaQueryable {
  $transaction<R>(fn: (tx: unknown) => Promise<R>, options?: PrismaTransactionOptions): Promise<R>;
  $disconnect(): Promise<void>;
}

/**
 * The `tx` of `prisma.$transaction(async (tx) => …)` for a given client type: for a generated
 * `PrismaClient`, `Omit<PrismaClient, ITXClientDenyList>` (what Prisma calls a transaction client).
 */
export type PrismaTransactionOf<Client extends PrismaClientLike> = Parameters<
  Client['$transaction']
>[0] extends (tx: infer Tx) => unknown
  ? Tx
  : never;

/** The database families the Prisma driver runs on. */
export type PrismaDialectName = 'postgres' | 'mysql' | 'sqlite';

export interface PrismaDriverOptions {
  /**
   * The database family. Detected from the provider of the client's schema (`postgresql`,
   * `mysql`, `sqlite`, as Prisma 6 and 7 keep it in the client's `_activeProvider`); set it when
   * that cannot be read (a client wrapped in a proxy of your own).
   * @defaultValue detected
   */
  readonly dialect?: PrismaDialectName;
  /**
   * The options of the interactive transaction a handler's `ctx.transaction` runs in.
   * @defaultValue `{ maxWait: 10_000, timeout: 60_000 }`
   */
  readonly transactionOptions?: PrismaTransactionOptions;
}

/**
 * The driver for Prisma Client 7 (and 6.16+) on PostgreSQL, MySQL/MariaDB and SQLite, with any
 * driver adapter. Give it your `PrismaClient`; `enqueue` accepts the `tx` of an interactive
 * `prisma.$transaction(async (tx) => …)` (the normal case) or the client itself for an enqueue
 * outside any transaction. A wrong object is a compile error: the accepted types are derived from
 * your generated client. A nested `tx.$transaction(…)` (Prisma 7: a savepoint) drops the tasks
 * enqueued in it when it rolls back.
 *
 * Prisma hands out no connection of its own, so async-task's statements go through
 * `$queryRawUnsafe` (statements that return rows) and `$executeRawUnsafe` (the others), their
 * parameters bound by Prisma. The worker side runs on the client: a handler's `ctx.transaction`
 * is a `prisma.$transaction` whose `tx` the handler receives (options: `transactionOptions`).
 * Where async-task needs one connection for several statements, it gets it the only way Prisma
 * offers, an interactive transaction: the MySQL claim's own short READ COMMITTED transaction,
 * the PostgreSQL and SQLite migrations' transactions, and the MySQL migration (its GET_LOCK is
 * held by the session), whose DDL commits as it goes, as it does on any connection. Those run
 * with `maxWait` 10 s and `timeout` 60 s (migrations: 15 min, as they may wait for another
 * process's migration).
 *
 * SQLite: Prisma's adapter has one connection, and a statement sent outside `$transaction` runs
 * inside whatever interactive transaction is open at that moment. So everything async-task
 * does on SQLite runs in an interactive transaction of its own (queued behind yours), except
 * inside a handler's `ctx.transaction`, where it runs in that transaction.
 *
 * Prisma cannot LISTEN: workers on this driver poll (`pollIntervalMs`), even on PostgreSQL.
 *
 * @example
 * import { PrismaPg } from '@prisma/adapter-pg';
 * import { PrismaClient } from './generated/prisma/client.js';
 * import { prismaDriver } from 'async-task/prisma';
 * const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString }) });
 * const tasks = new AsyncTask({ driver: prismaDriver(prisma), targets: [OrderClient] });
 * await prisma.$transaction(async (tx) => {
 *   await tx.order.create({ data: { number: 7 } });
 *   await tasks.enqueue(tx, OrderClient.fulfill, { orderNumber: 7 });
 * });
 */
export function prismaDriver<Client extends PrismaClientLike>(
  prisma: Client,
  options: PrismaDriverOptions = {},
): Driver<Client | PrismaTransactionOf<Client>, PrismaTransactionOf<Client>> {
  if (!isClient(prisma)) {
    throw new ConfigError(
      isQueryable(prisma)
        ? 'prismaDriver: pass the PrismaClient, not a transaction (give transactions to enqueue)'
        : 'prismaDriver: pass your PrismaClient (new PrismaClient({ adapter }))',
    );
  }
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError('prismaDriver: options must be an object');
  }
  const name = options.dialect ?? detectDialect(prisma);
  const dialect = dialectFor(name);
  const client = prisma as unknown as ClientCalls;
  const handlerOptions = transactionOptionsOf(options.transactionOptions);
  // SQLite: the transaction a handler's ctx.transaction holds, for work started inside it.
  const held = name === 'sqlite' ? new TransactionHolder<PrismaQueryable>() : undefined;
  /** Statements outside any transaction: on SQLite, each in an interactive transaction. */
  const outside = (on: ClientCalls): PrismaQueryable =>
    held
      ? {
          $queryRawUnsafe: (query, ...values) =>
            held.current()?.$queryRawUnsafe(query, ...values) ??
            on.$transaction(async (tx) => tx.$queryRawUnsafe(query, ...values), workTransaction),
          $executeRawUnsafe: (query, ...values) =>
            held.current()?.$executeRawUnsafe(query, ...values) ??
            on.$transaction(async (tx) => tx.$executeRawUnsafe(query, ...values), workTransaction),
        }
      : on;
  /** Inside an interactive transaction: its statements run in `tx`. */
  const within = (tx: PrismaQueryable): SqlConnection => prismaConnection(name, tx, null);
  /** Outside any: statements on `target`, transactions interactive ones of `on` with `options`. */
  const unit = (on: ClientCalls, target: PrismaQueryable, options: PrismaTransactionOptions) =>
    prismaConnection(name, target, (fn, seam) =>
      inTransaction(name, on, withIsolation(options, seam), (tx) => fn(within(tx))),
    );

  return {
    dialect,
    connection: (tx) => {
      if (!isQueryable(tx)) {
        throw new ConfigError(
          'enqueue: pass the tx of prisma.$transaction(async (tx) => …), or the PrismaClient',
        );
      }
      if (!isClient(tx)) return within(tx);
      const on = tx as unknown as ClientCalls;
      return unit(on, outside(on), workTransaction);
    },
    run: (fn) => {
      const holding = held?.current();
      if (holding) return fn(within(holding));
      // SQLite: one interactive transaction (Prisma's lock on the connection) for the whole unit.
      if (name === 'sqlite')
        return inTransaction(name, client, workTransaction, (tx) => fn(within(tx)));
      return fn(unit(client, prisma, workTransaction));
    },
    session: (fn) => {
      if (name === 'mysql') {
        // GET_LOCK belongs to the session: one connection for the whole migration, which only an
        // interactive transaction gives. Each DDL statement commits it implicitly, as on any
        // connection; READ COMMITTED keeps every read current in between.
        const options = withIsolation(sessionTransaction, { isolation: 'read committed' });
        return inTransaction(name, client, options, (tx) => fn(within(tx)));
      }
      return fn(unit(client, outside(client), sessionTransaction));
    },
    transaction: <T>(
      fn: (connection: SqlConnection, tx: PrismaTransactionOf<Client>) => Promise<T>,
    ): Promise<T> =>
      inTransaction(name, client, handlerOptions, (tx) => {
        const body = (): Promise<T> => fn(within(tx), tx as PrismaTransactionOf<Client>);
        return held ? held.run(tx, body) : body();
      }),
  };
}
