import type { AsyncTask, EnqueueOptions, TaskMethod } from '../../src/index.js';
import type { Harness } from './fixture.js';

/**
 * Enqueues `count` attempts of `method` (arguments `{ i }`, i from 0) in one transaction, in
 * batches of 5,000; `options(i)` gives each one's options.
 */
export async function enqueueInBatches(
  harness: Harness,
  tasks: AsyncTask<unknown, unknown>,
  method: TaskMethod<{ i: number }>,
  count: number,
  options: (i: number) => EnqueueOptions<never>,
): Promise<void> {
  await harness.transaction(async (tx) => {
    for (let from = 0; from < count; from += 5000) {
      await tasks.enqueueMany(
        tx,
        Array.from({ length: Math.min(5000, count - from) }, (_, j) => ({
          method,
          args: { i: from + j },
          options: options(from + j),
        })),
      );
    }
  });
}
