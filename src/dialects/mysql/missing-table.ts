import { AsyncTaskError } from '../../core/errors.js';

/**
 * ER_NO_SUCH_TABLE (1146) means migrate() has not run: on the client's error, or on the one a
 * driver's DatabaseError wraps.
 */
export function isNoSuchTable(error: unknown): boolean {
  const cause = error instanceof AsyncTaskError ? error.cause : error;
  const { errno, code } = (cause ?? {}) as { errno?: unknown; code?: unknown };
  return errno === 1146 || code === 'ER_NO_SUCH_TABLE';
}
