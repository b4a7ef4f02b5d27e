import { AsyncTask, type AsyncTaskOptions, type Encryptor } from '../../src/index.js';
import type { Harness } from './fixture.js';

export type TasksOptions<Encryptors extends Record<string, Encryptor>> = Omit<
  AsyncTaskOptions<unknown, unknown, Encryptors>,
  'driver' | 'table'
>;

/** An `AsyncTask` on the harness's driver and table (not migrated). */
export function newTasks<Encryptors extends Record<string, Encryptor> = Record<never, Encryptor>>(
  harness: Harness,
  options: TasksOptions<Encryptors>,
): AsyncTask<unknown, unknown, Encryptors> {
  return new AsyncTask<unknown, unknown, Encryptors>({
    ...options,
    driver: harness.driver,
    table: harness.table,
  });
}

/** An `AsyncTask` on the harness's driver and table, with its table migrated. */
export async function migratedTasks<
  Encryptors extends Record<string, Encryptor> = Record<never, Encryptor>,
>(
  harness: Harness,
  options: TasksOptions<Encryptors>,
): Promise<AsyncTask<unknown, unknown, Encryptors>> {
  const tasks = newTasks(harness, options);
  await tasks.migrate();
  return tasks;
}
