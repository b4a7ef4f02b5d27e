import { DatabaseError, SchemaOutdatedError } from '../core/errors.js';
import type { SchemaState } from '../seam/executor.js';

/**
 * The error for a statement that failed because the table is missing (`isMissingTable`, each
 * dialect's test of its client's error): migrate() has not run. Any other error passes as it is.
 */
export function translateMissingTable(
  error: unknown,
  isMissingTable: (error: unknown) => boolean,
  quotedTable: string,
): unknown {
  if (!isMissingTable(error)) return error;
  return new SchemaOutdatedError(
    `table ${quotedTable} does not exist; run \`await tasks.migrate()\` (or \`async-task migrate\`) first`,
  );
}

/** The table carries breaking migrations this code does not know. */
export function newerSchemaError(
  quotedTable: string,
  state: SchemaState,
  latestVersion: number,
): SchemaOutdatedError {
  return new SchemaOutdatedError(
    `table ${quotedTable} has migration(s) ${state.breakingUnknown.join(', ')} from a newer async-task that this version (schema ${latestVersion}) cannot run against; upgrade async-task`,
  );
}

/**
 * The row holding an idempotence token was deleted between the insert and the read of it (pruned,
 * by a connection outside the transaction): rare enough that the caller's retry is the answer.
 */
export function tokenVanishedError(token: string | null): DatabaseError {
  return new DatabaseError(
    `the attempt holding idempotence token ${JSON.stringify(token)} vanished while enqueueing; retry the transaction`,
  );
}
