import { DatabaseError, SchemaOutdatedError } from '../core/errors.js';

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
    `table ${quotedTable} does not exist; run \`await tasks.migrate()\` (or \`async-task migrate\`) first, or, where your migration tool owns the schema (option schema: 'external'), apply the files \`async-task migrations\` writes; if it was migrated, this connection or transaction is on another database than the one migrate() ran on`,
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
