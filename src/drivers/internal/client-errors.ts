// The one way every driver turns a client's errors into async-task's: `messageOf` for the text,
// `databaseError`/`asDatabaseError`/`translated` for a client call that failed, and
// `separatingErrors` to tell the caller's own error (passed through as it is) from the client's
// (begin, commit, connecting: translated) when the caller's code runs inside a client's scope.
import { AsyncTaskError, DatabaseError } from '../../core/errors.js';

/** The message of an error, or the thrown value as text. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A DatabaseError saying `what` failed and why, with the client's error as `cause`. */
export function databaseError(what: string, error: unknown): DatabaseError {
  return new DatabaseError(`${what}: ${messageOf(error)}`, { cause: error });
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
