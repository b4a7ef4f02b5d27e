import { ConfigError, shown } from '../core/errors.js';
import { checkOptionNames, optionNames } from '../core/options.js';

export interface MigrateOptions {
  /**
   * How long, in all, `migrate()` goes on trying when another session holds the table (a long
   * transaction that read or wrote it). Each try waits for the table's lock at most 2 s, since
   * every enqueue and claim queues behind a migration waiting for its lock, then pauses 1 s.
   * Past this it throws `DatabaseError` naming the sessions holding the table. PostgreSQL and
   * MySQL; SQLite waits `busyTimeoutMs` for its one writer. @defaultValue 60000
   */
  readonly lockWaitMs?: number;
}

const migrateOptionNames = optionNames<MigrateOptions>({ lockWaitMs: true });
const maxLockWaitMs = 86_400_000;

/** `migrate()`'s options, checked, with their defaults. */
export function resolveMigrateOptions(options: MigrateOptions | undefined): {
  lockWaitMs: number;
} {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new ConfigError(
      `migrate: options must be an object such as { lockWaitMs: 60000 }, or left out; got ${shown(options)}`,
    );
  }
  checkOptionNames(options ?? {}, migrateOptionNames, 'migrate');
  const lockWaitMs: unknown = options?.lockWaitMs === undefined ? 60_000 : options.lockWaitMs;
  if (
    typeof lockWaitMs !== 'number' ||
    !Number.isSafeInteger(lockWaitMs) ||
    lockWaitMs < 0 ||
    lockWaitMs > maxLockWaitMs
  ) {
    throw new ConfigError(
      `migrate: lockWaitMs must be a whole number of milliseconds from 0 to ${maxLockWaitMs} (a day), got ${shown(lockWaitMs)}`,
    );
  }
  return { lockWaitMs };
}
