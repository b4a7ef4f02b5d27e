// A rate limit under racing worker processes: 100 starts per second over three processes for
// about 4 s. Starts are measured where the limit is kept, at the database's claim instant: a
// trigger copies each row the claim writes to the starts table into a log the claim never prunes
// (a handler's start lags its claim by a varying delay, so handler times would prove nothing).
// One native driver per dialect: the claim under test is the dialect's.
import { describe, expect } from 'vitest';
import { fixtures, itOnNativeDrivers } from '../harness/dialects.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { logStarts, peakInWindow } from '../harness/start-log.js';
import { useHarness } from '../harness/use-harness.js';
import { workerChildTarget } from '../harness/worker-child-target.js';
import { useFleets } from '../harness/worker-process.js';

const target = workerChildTarget();

for (const fixture of fixtures) {
  describe(fixture.label, () => {
    const harness = useHarness(fixture);
    const newFleet = useFleets();
    const itNative = itOnNativeDrivers(
      fixture,
      "the limit is kept by the dialect's claim, below the driver, whose statements run through every driver in rate-limit.test.ts",
      'multiProcessWorkers',
    );

    itNative(
      'rate limit 100/s over three worker processes: never more than 100 starts in any second, and close to 100 in each',
      async () => {
        const queues = { rated: { rateLimit: { limit: 100, periodMs: 1000 } } };
        const tasks = await migratedTasks(harness(), { targets: [target], queues });
        const readStarts = await logStarts(harness(), fixture.dialect);
        const fleet = newFleet(
          { ...harness().childEnv(), ASYNC_TASK_WORKER_QUEUES: JSON.stringify(queues) },
          { concurrency: 40, pollIntervalMs: 50 },
        );
        await Promise.all([1, 2, 3].map((n) => fleet.start(`rate-${n}`).ready));
        // More than 5 s of work, so the processes are never short of due tasks.
        await harness().transaction((tx) =>
          tasks.enqueueMany(
            tx,
            Array.from({ length: 600 }, (_, i) => ({
              method: target.slow,
              args: { ms: 1 + (i % 2) },
              options: { queue: 'rated' },
            })),
          ),
        );
        let starts: number[] = [];
        await fleet.waitFor(
          '4 s of starts',
          async () => {
            starts = await readStarts();
            return starts.length > 0 && starts.at(-1)! >= starts[0]! + 4000;
          },
          12_000,
        );
        await fleet.stopAll();
        starts = await readStarts();

        expect(peakInWindow(starts, 1000)).toBeLessThanOrEqual(100);
        // Used, not merely respected: the first 4 s hold at least 80% of the 400 allowed.
        const first4s = starts.filter((at) => at < starts[0]! + 4000).length;
        expect(first4s).toBeGreaterThanOrEqual(320);
        expect(first4s).toBeLessThanOrEqual(400);
      },
      30_000,
    );
  });
}
