import { AsyncTaskError, DatabaseError } from '../../core/errors.js';
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
  try {
    // The callback returns nothing: postgres.js would await an array result element-wise.
    await drizzle.transaction(async (tx) => {
      try {
        result = { value: await fn(tx) };
      } catch (error) {
        failure = { error };
        throw error;
      }
    });
  } catch (error) {
    if (failure !== undefined) throw failure.error;
    if (error instanceof AsyncTaskError) throw error;
    throw new DatabaseError(
      `Drizzle could not begin or commit the transaction: ${messageOf(error)}`,
      { cause: error },
    );
  }
  if (result === undefined) {
    throw new DatabaseError('Drizzle ended the transaction without running it');
  }
  return result.value;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
