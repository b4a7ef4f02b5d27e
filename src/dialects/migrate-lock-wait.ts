import { setTimeout as delay } from 'node:timers/promises';
import { DatabaseError } from '../core/errors.js';
import type { DriverSession, TableName } from '../seam/driver.js';
import type { SqlConnection } from '../seam/sql-connection.js';

/**
 * How a dialect bounds a migration's wait for its table's lock. A DDL statement that waits for
 * the lock of a session holding the table (a long transaction that read or wrote it) makes every
 * enqueue and claim after it wait too: the queue stops until that session ends. So each wait is
 * short, and migrate() tries again after a pause in which the queue runs.
 */
export interface LockWaitSteps {
  /**
   * Makes the statements of `connection` wait at most `ms` for a lock until the migration's end;
   * returns what gives the connection its own setting back (it may go back to a pool).
   */
  limit(connection: SqlConnection, ms: number): Promise<() => Promise<void>>;
  /** Whether a statement failed for having waited that long. */
  timedOut(error: unknown): boolean;
  /**
   * The sessions that may hold the table, for the message: never their statements' text, which
   * may hold another application's values.
   */
  holders(connection: SqlConnection, table: TableName): Promise<string[]>;
}

/** The longest a migration's statement waits for a lock at one try. */
export const lockTryMs = 2_000;
/** The pause between tries, in which enqueues and claims go on. */
const lockPauseMs = 1_000;

/**
 * Runs `attempt` (one try of a whole migrate(), from taking its lock to its end) again while its
 * statements time out waiting for the table's lock, until `lockWaitMs` has passed; then throws a
 * DatabaseError that names who holds the table.
 */
export async function retryingLockWaits<T>(
  lockWait: LockWaitSteps | undefined,
  lockWaitMs: number,
  session: DriverSession,
  table: TableName,
  describe: { quoted: string; transactional: boolean; blocked: () => number | null },
  attempt: (tryMs: number) => Promise<T>,
): Promise<T> {
  const started = Date.now();
  for (let tries = 1; ; tries++) {
    const left = lockWaitMs - (Date.now() - started);
    try {
      return await attempt(Math.max(1, Math.min(lockTryMs, left)));
    } catch (error) {
      if (lockWait === undefined || !lockWait.timedOut(error)) throw error;
      if (Date.now() - started + lockPauseMs >= lockWaitMs) {
        const holders = await session((connection) => lockWait.holders(connection, table)).catch(
          () => [],
        );
        throw lockWaitError(describe, lockWaitMs, tries, holders, error);
      }
      await delay(lockPauseMs);
    }
  }
}

function lockWaitError(
  describe: { quoted: string; transactional: boolean; blocked: () => number | null },
  lockWaitMs: number,
  tries: number,
  holders: readonly string[],
  cause: unknown,
): DatabaseError {
  const version = describe.blocked();
  const migration = version === null ? 'the migration' : `migration ${version}`;
  const kept = describe.transactional
    ? 'nothing of this migrate() was applied'
    : `nothing of ${migration} was applied (migrations before it stay applied)`;
  const who =
    holders.length > 0
      ? `; sessions holding it: ${holders.join(', ')}`
      : '; a session holds it in an open transaction';
  return new DatabaseError(
    `migrate: ${describe.quoted} stayed locked by another session: ${migration} waited for its lock ${tries} time(s), at most ${lockTryMs} ms each (enqueues and claims queue behind a waiting migration), for ${lockWaitMs} ms in all, and ${kept}${who}; let that transaction end (commit or roll back, or end the session) and run migrate again, or wait longer (migrate({ lockWaitMs }), \`async-task migrate --lock-wait 5m\`)`,
    { cause },
  );
}
