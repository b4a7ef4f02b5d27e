import { DatabaseError } from '../../core/errors.js';
import type {
  SqlConnection,
  SqlResult,
  Statement,
  TransactionOptions,
} from '../../seam/sql-connection.js';
import type { PrismaDialectName, PrismaQueryable } from './index.js';
import { databaseError } from './raw-query-error.js';

/** How a connection opens a transaction: an interactive `$transaction` whose `tx` runs it. */
export type Begin = <T>(
  fn: (connection: SqlConnection) => Promise<T>,
  options?: TransactionOptions,
) => Promise<T>;

/**
 * A connection whose statements run on `target` (a client, or the `tx` of an interactive
 * transaction); `begin` opens its transactions, null inside one (Prisma nests none of ours).
 */
export function prismaConnection(
  dialect: PrismaDialectName,
  target: PrismaQueryable,
  begin: Begin | null,
): SqlConnection {
  return {
    query: (statement, params) => execute(dialect, target, statement, params),
    transaction: (fn, options) => (begin ? begin(fn, options) : Promise.reject(nested())),
    // Inside an interactive transaction (the unit of `run` on SQLite, among others): statements
    // that must be atomic run as they are, in it.
    ...(begin ? {} : { inTransaction: () => true }),
  };
}

/** A transaction asked for inside one: the dialects never do it, so a bug, not misuse. */
function nested(): DatabaseError {
  return new DatabaseError(
    "prismaDriver: cannot begin a transaction on a connection already inside one (Prisma runs transactions only through $transaction, and async-task's dialect asked for one where the driver does not expect it); please report this",
  );
}

/** `$queryRawUnsafe` for statements that return rows, `$executeRawUnsafe` for the others. */
async function execute(
  dialect: PrismaDialectName,
  target: PrismaQueryable,
  statement: Statement,
  given: readonly unknown[],
): Promise<SqlResult> {
  const { text } = statement;
  const args = given.map((value) => toPrisma(dialect, value));
  try {
    if (statement.returnsRows) {
      const rows = (await target.$queryRawUnsafe(text, ...args)) as Record<string, unknown>[];
      for (const row of rows) normalizeRow(dialect, row);
      return { rows, rowCount: rows.length };
    }
    const count = await target.$executeRawUnsafe(text, ...args);
    return { rows: [], rowCount: count };
  } catch (error) {
    throw databaseError(dialect, error);
  }
}

/** A parameter as Prisma should get it to bind what the native client would. */
function toPrisma(dialect: PrismaDialectName, value: unknown): unknown {
  if (value === undefined) return null;
  // Prisma's PostgreSQL adapter sends a Date as UTC text without an offset, which a timestamptz
  // parameter would read in the session's time zone; ISO text with `Z` is the same instant anywhere.
  if (dialect === 'postgres' && value instanceof Date && !Number.isNaN(value.getTime())) {
    return value.toISOString();
  }
  return value;
}

/**
 * A row as the native client (pg, mysql2, better-sqlite3 with their defaults) would give it:
 * Prisma returns 64-bit integers as bigint (pg: text; mysql2 and better-sqlite3: numbers),
 * decimals as Decimal (text; SQLite: numbers) and bytes as Uint8Array (Buffer).
 */
function normalizeRow(dialect: PrismaDialectName, row: Record<string, unknown>): void {
  for (const key in row) {
    const value = row[key];
    if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
      row[key] = Array.isArray(value)
        ? value.map((item: unknown) => normalizeValue(dialect, item))
        : normalizeValue(dialect, value);
    } else if (typeof value === 'bigint') {
      row[key] = normalizeValue(dialect, value);
    }
  }
}

function normalizeValue(dialect: PrismaDialectName, value: unknown): unknown {
  if (typeof value === 'bigint') {
    if (dialect === 'postgres') return value.toString();
    const number = Number(value);
    return Number.isSafeInteger(number) ? number : value.toString();
  }
  if (typeof value !== 'object' || value === null || value instanceof Date) return value;
  if (value instanceof Uint8Array) {
    return Buffer.isBuffer(value)
      ? value
      : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  }
  // toFixed() without digits: plain notation, as the database prints it (never an exponent).
  if (isDecimal(value)) return dialect === 'sqlite' ? Number(value.toFixed()) : value.toFixed();
  return value;
}

/** Prisma's `Decimal` (decimal.js), recognised without importing it. */
function isDecimal(value: object): value is { toFixed(): string } {
  const candidate = value as { toFixed?: unknown; toDecimalPlaces?: unknown };
  return typeof candidate.toFixed === 'function' && typeof candidate.toDecimalPlaces === 'function';
}
