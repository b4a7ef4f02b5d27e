import { AsyncTaskError, DatabaseError } from '../../core/errors.js';
import type { PrismaDialectName } from './index.js';

/**
 * The database's own error inside a Prisma error (a failed raw query, P2010), shaped like the
 * native client's: `code` as Prisma reports it (PostgreSQL's SQLSTATE, MySQL's error number,
 * SQLite's result code name), `errno` on MySQL, the database's message. `cause` is Prisma's error.
 */
export class PrismaRawQueryError extends Error {
  readonly code: string;
  /** MySQL's error number (`code` as a number), as mysql2 gives it. */
  readonly errno: number | undefined;
  /** The SQLSTATE, where Prisma reports it apart from `code` (MySQL). */
  readonly sqlState: string | undefined;

  constructor(
    reported: { code: string; message: string; sqlState?: string | undefined },
    dialect: PrismaDialectName,
    prismaError: unknown,
  ) {
    super(reported.message, { cause: prismaError });
    this.name = 'PrismaRawQueryError';
    this.code = reported.code;
    const errno = Number(reported.code);
    this.errno = dialect === 'mysql' && Number.isInteger(errno) ? errno : undefined;
    this.sqlState = reported.sqlState;
  }
}

const databaseNames: Record<PrismaDialectName, string> = {
  postgres: 'PostgreSQL',
  mysql: 'MySQL',
  sqlite: 'SQLite',
};

/**
 * A DatabaseError for a Prisma error. When the database refused the statement, `cause` is a
 * {@link PrismaRawQueryError} carrying the database's code (what the dialects recognise, such as
 * a missing table), with Prisma's error as its own `cause`; otherwise `cause` is Prisma's error.
 */
export function databaseError(dialect: PrismaDialectName, error: unknown): AsyncTaskError {
  if (error instanceof AsyncTaskError) return error;
  const reported = reportedByDatabase(error);
  if (reported) {
    return new DatabaseError(
      `${databaseNames[dialect]} refused the statement: ${reported.message}${hint(dialect, reported.code)}`,
      {
        cause: new PrismaRawQueryError(reported, dialect, error),
      },
    );
  }
  return new DatabaseError(`Prisma could not run the statement: ${summary(error)}`, {
    cause: error,
  });
}

/**
 * The database's code and message in a Prisma error: Prisma 7's driver adapters put them in
 * `meta.driverAdapterError.cause`, Prisma 6's query engine in `meta` of a P2010 error.
 */
function reportedByDatabase(
  error: unknown,
): { code: string; message: string; sqlState?: string | undefined } | null {
  if (typeof error !== 'object' || error === null) return null;
  const { code, meta } = error as { code?: unknown; meta?: Record<string, unknown> };
  if (typeof meta !== 'object' || meta === null) return null;
  const adapter = (meta['driverAdapterError'] as { cause?: Record<string, unknown> } | undefined)
    ?.cause;
  if (typeof adapter === 'object' && adapter !== null) {
    const original = adapter['originalCode'];
    const message = adapter['originalMessage'];
    if (typeof original === 'string' && typeof message === 'string') {
      const state = adapter['state'];
      return { code: original, message, sqlState: typeof state === 'string' ? state : undefined };
    }
    return null;
  }
  if (code === 'P2010' && typeof meta['code'] === 'string' && typeof meta['message'] === 'string') {
    return { code: meta['code'], message: meta['message'] };
  }
  return null;
}

/**
 * What to do about a refusal that comes from Prisma rather than from the statement. MySQL 8 cannot
 * prepare some statements (CREATE PROCEDURE, which migrate() runs for the MySQL schema's SQL
 * enqueue; MariaDB prepares it), and the MariaDB adapter prepares every statement by default.
 */
function hint(dialect: PrismaDialectName, code: string): string {
  if (dialect !== 'mysql' || code !== '1295') return '';
  return " (ER_UNSUPPORTED_PS: Prisma's MariaDB adapter prepares every statement, and the server cannot prepare this one); create the adapter with the text protocol, new PrismaMariaDb(url, { useTextProtocol: true }), or run migrate() with another client";
}

/** Prisma's message without its "Invalid `prisma.…()` invocation:" preamble, on one line. */
function summary(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/^Invalid `.*` invocation/.test(line))
    .join(' ');
}
