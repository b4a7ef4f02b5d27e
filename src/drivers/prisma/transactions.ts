import { ConfigError } from '../../core/errors.js';
import type { TransactionOptions } from '../../seam/sql-connection.js';
import { separatingErrors } from '../internal/client-errors.js';
import type { PrismaDialectName, PrismaQueryable, PrismaTransactionOptions } from './index.js';
import { databaseError } from './raw-query-error.js';

/** `$transaction` as the driver calls it. */
export interface ClientCalls extends PrismaQueryable {
  $transaction<R>(
    fn: (tx: PrismaQueryable) => Promise<R>,
    options?: PrismaTransactionOptions,
  ): Promise<R>;
}

/** The driver's own short transactions (the MySQL claim and rescue, SQLite's units of work). */
export const workTransaction: PrismaTransactionOptions = { maxWait: 10_000, timeout: 60_000 };
/**
 * Migrations: they wait for another process's migration (PostgreSQL's advisory lock, MySQL's
 * GET_LOCK for up to 600 s), then run DDL.
 */
export const sessionTransaction: PrismaTransactionOptions = { maxWait: 10_000, timeout: 900_000 };
const handlerTransaction: PrismaTransactionOptions = { maxWait: 10_000, timeout: 60_000 };

/** The options of a handler's `ctx.transaction`, from `PrismaDriverOptions.transactionOptions`. */
export function transactionOptionsOf(
  given: PrismaTransactionOptions | undefined,
): PrismaTransactionOptions {
  if (given === undefined) return handlerTransaction;
  if (typeof given !== 'object' || given === null) {
    throw new ConfigError('prismaDriver: transactionOptions must be an object');
  }
  for (const key of ['maxWait', 'timeout'] as const) {
    const value = given[key];
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
      throw new ConfigError(
        `prismaDriver: transactionOptions.${key} must be a whole number of milliseconds above 0, got ${String(value)}`,
      );
    }
  }
  // Only the keys given: Prisma fills in the rest from the client's own transactionOptions.
  return Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined));
}

/** The seam's isolation as Prisma's option: READ COMMITTED for this transaction only. */
export function withIsolation(
  options: PrismaTransactionOptions,
  seam: TransactionOptions | undefined,
): PrismaTransactionOptions {
  return seam?.isolation === 'read committed'
    ? { ...options, isolationLevel: 'ReadCommitted' }
    : options;
}

/**
 * Runs `fn` in an interactive transaction of `client`: committed when `fn` returns, rolled back
 * when it throws (its error passes through as it is); Prisma's own errors (begin, commit,
 * timeout) become DatabaseError.
 */
export function inTransaction<T>(
  dialect: PrismaDialectName,
  client: ClientCalls,
  options: PrismaTransactionOptions,
  fn: (tx: PrismaQueryable) => Promise<T>,
): Promise<T> {
  return separatingErrors(
    (inner) => client.$transaction((tx) => inner(() => fn(tx)), options),
    (error) => databaseError(dialect, error),
  );
}
