import { DatabaseError } from '../../core/errors.js';
import { asDatabaseError, separatingErrors } from '../internal/client-errors.js';
import type { DrizzleDatabase } from './index.js';

/**
 * Runs `fn` in `db.transaction`: commit when it returns, rollback when it throws. Errors of `fn`
 * pass through as they are; Drizzle's own (connecting, BEGIN, COMMIT) become DatabaseError.
 */
export async function throughDrizzle<T>(
  db: DrizzleDatabase,
  fn: (tx: unknown) => Promise<T>,
): Promise<T> {
  let result: { value: T } | undefined;
  let failure: { error: unknown } | undefined;
  const drizzle = db as unknown as {
    transaction(scope: (tx: unknown) => Promise<void>): Promise<void>;
  };
  const run = async (tx: unknown): Promise<T> => {
    try {
      return await fn(tx);
    } catch (error) {
      failure = { error };
      throw error;
    }
  };
  await separatingErrors(
    // The callback returns nothing: postgres.js would await an array result element-wise.
    (inner) =>
      drizzle.transaction(async (tx) => {
        result = { value: await inner(() => run(tx)) };
      }),
    // Once `fn` has thrown, its error is the one to report, even when Drizzle's ROLLBACK then
    // fails with its own (a connection that died inside `fn`).
    (error) =>
      failure
        ? failure.error
        : asDatabaseError('Drizzle could not begin or commit the transaction', error),
  );
  if (result === undefined) {
    throw new DatabaseError('Drizzle ended the transaction without running it');
  }
  return result.value;
}
