// The one way every driver turns a client's errors into async-task's: `messageOf` for the text,
// `databaseError`/`asDatabaseError`/`translated` for a client call that failed, and
// `separatingErrors` to tell the caller's own error (passed through as it is) from the client's
// (begin, commit, connecting: translated) when the caller's code runs inside a client's scope.
import { AsyncTaskError, DatabaseError } from '../../core/errors.js';

/** The message of an error, or the thrown value as text. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A DatabaseError saying `what` failed and why, with the client's error as `cause`. A connection
 * that broke is not a refusal: "PostgreSQL refused the statement: write CONNECTION_CLOSED" sent
 * people looking for a fault in the statement.
 */
export function databaseError(what: string, error: unknown): DatabaseError {
  const said = connectionLost(error)
    ? what.replace(/ refused the statement$/, ': the connection was lost during the statement')
    : what;
  return new DatabaseError(`${said}: ${messageOf(error)}${hintFor(error)}`, { cause: error });
}

/** What to do about a refusal whose cause is not in the statement, by the client's error code. */
const hints: Readonly<Record<string, string>> = {
  // PostgreSQL's duplicate_prepared_statement and invalid_sql_statement_name.
  '42P05':
    'a pooler in transaction mode (PgBouncer before 1.21) hands prepared statements to other connections: create the driver with { preparedStatements: false }',
  '26000':
    'a pooler in transaction mode (PgBouncer before 1.21) hands prepared statements to other connections: create the driver with { preparedStatements: false }',
  // PostgreSQL's invalid_schema_name: CREATE with a search_path naming no schema that exists.
  '3F000':
    "the connection's search_path names no schema that exists: name the table's schema (table: 'app.async_task_attempts'), or set search_path to an existing schema",
  SQLITE_BUSY:
    "another connection held SQLite's write lock past this connection's busy timeout; better-sqlite3 waits for it synchronously, blocking this process's event loop, so a write transaction of this same process that awaits something (a ctx.transaction body, a transaction of your own) cannot end meanwhile: keep awaits out of write transactions on SQLite, or raise the busy timeout",
};

function hintFor(error: unknown): string {
  const { code } = (error ?? {}) as { code?: unknown };
  const hint = typeof code === 'string' ? hints[code] : undefined;
  return hint === undefined ? '' : ` (${hint})`;
}

/** The clients' own codes for a connection that broke or closed, the server's answer unknown. */
const lostCodes = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'PROTOCOL_CONNECTION_LOST',
]);

function connectionLost(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { code } = error as { code?: unknown };
  // node-postgres says so in its message only.
  return (
    (typeof code === 'string' && lostCodes.has(code)) ||
    /^Connection terminated/.test(error.message)
  );
}

/** `error` itself when it is already async-task's, else `databaseError(what, error)`. */
export function asDatabaseError(what: string, error: unknown): AsyncTaskError {
  return error instanceof AsyncTaskError ? error : databaseError(what, error);
}

/** Runs a client call, its errors through `asDatabaseError(what, …)`. */
export async function translated<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw asDatabaseError(what, error);
  }
}

/**
 * Runs `call`, which runs the caller's code through `inner` (inside a client's transaction or
 * connection scope). Errors thrown by that code pass through as they are; any other error (the
 * client's own: connecting, BEGIN, COMMIT) goes through `translate`.
 */
export async function separatingErrors<T>(
  call: (inner: <U>(fn: () => Promise<U>) => Promise<U>) => Promise<T>,
  translate: (error: unknown) => unknown,
): Promise<T> {
  const fromFn = new WeakSet<object>();
  let thrown: { error: unknown } | undefined;
  const inner = async <U>(fn: () => Promise<U>): Promise<U> => {
    try {
      return await fn();
    } catch (error) {
      if (typeof error === 'object' && error !== null) fromFn.add(error);
      else thrown = { error };
      throw error;
    }
  };
  try {
    return await call(inner);
  } catch (error) {
    if (
      (typeof error === 'object' && error !== null && fromFn.has(error)) ||
      (thrown !== undefined && thrown.error === error)
    ) {
      throw error;
    }
    throw translate(error);
  }
}
