import { afterEach } from 'vitest';
import type { Worker } from '../../src/index.js';

/**
 * Stops, after each test, the workers a test made (so a failed test leaves none polling a table
 * that is about to be dropped). Call it after `useHarness`: after-hooks run last-registered
 * first, so the workers stop before the harness closes. Returns `track(worker)`.
 */
export function useWorkers(): <W extends Worker>(worker: W) => W {
  const made: Worker[] = [];
  afterEach(async () => {
    await Promise.all(
      made.splice(0).map((worker) => worker.stop({ timeoutMs: 1000 }).catch(() => undefined)),
    );
  });
  return (worker) => {
    made.push(worker);
    return worker;
  };
}
