import { AsyncTask, type Target } from '../../src/index.js';
import type { Harness } from './fixture.js';

/** A migrated AsyncTask on `harness` whose queue `keyed` runs one attempt per key at a time. */
export async function keyedTasks<Methods extends object>(
  harness: Pick<Harness, 'driver' | 'table'>,
  target: Target<Methods>,
) {
  const tasks = new AsyncTask({
    driver: harness.driver,
    table: harness.table,
    targets: [target],
    queues: { keyed: { keyConcurrency: 1 } },
  });
  await tasks.migrate();
  return tasks;
}
