// The worker's bounds hold on every dialect: a long drain with the defaults keeps unwritten
// outcomes under `Worker.maxUnwritten` plus `concurrency`, and the heap after GC stays flat.
// PostgreSQL's 200,000-task soak and its backpressure test are in
// test/integration/postgres-worker-scale.test.ts; here one driver per dialect, since the bounds
// are the worker's, not the driver's.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { Worker, defineTarget } from '../../src/index.js';
import { fixtures } from '../harness/dialects.js';
import type { DialectFixture } from '../harness/fixture.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { useHarness } from '../harness/use-harness.js';
import { waitFor } from '../harness/wait-for.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Sized to drain in a few seconds here, long enough for ten heap samples past the ramp-up. */
const soakTasks: Partial<Record<DialectFixture['dialect'], number>> = {
  mysql: 50_000,
  sqlite: 100_000,
};
const soakFixtures = ['mysql/mysql2', 'sqlite/better-sqlite3'];

for (const fixture of fixtures) {
  const count = soakTasks[fixture.dialect];
  if (count === undefined || !soakFixtures.includes(fixture.label)) continue;
  describe(fixture.label, () => {
    const harness = useHarness(fixture);

    it(`soak: a worker with defaults drains ${count} tasks with unwritten outcomes under the bound and a flat heap`, async () => {
      let done = 0;
      const Soak = defineTarget('Soak', {
        noop(_args: { i: number }) {
          done += 1;
        },
      });
      const tasks = await migratedTasks(harness(), { targets: [Soak] });
      for (let from = 0; from < count; from += 2000) {
        await harness().transaction((tx) =>
          tasks.enqueueMany(
            tx,
            Array.from({ length: 2000 }, (_, j) => ({ method: Soak.noop, args: { i: from + j } })),
          ),
        );
      }
      const worker = tasks.worker({ pollIntervalMs: 100 });
      let peakUnwritten = 0;
      const heaps: number[] = [];
      let nextHeapAt = count / 10;
      const sampler = setInterval(() => {
        peakUnwritten = Math.max(peakUnwritten, worker.unwrittenOutcomes);
        if (done < nextHeapAt) return;
        nextHeapAt += count / 10;
        gc();
        heaps.push(process.memoryUsage().heapUsed / 2 ** 20);
      }, 5);
      try {
        await worker.start();
        await waitFor('every handler to run', () => done === count, 120_000);
        await waitFor('every outcome written', async () => {
          const open = await Promise.all([
            tasks.list({ status: 'pending', limit: 1 }),
            tasks.list({ status: 'running', limit: 1 }),
          ]);
          return open.every((list) => list.length === 0);
        });
      } finally {
        clearInterval(sampler);
        await worker.stop();
      }
      const stats = await tasks.stats();
      expect(stats.map(({ status, count: n }) => [status, n])).toEqual([['succeeded', count]]);
      expect(peakUnwritten).toBeLessThanOrEqual(Worker.maxUnwritten + 10);
      // The samples come from a timer: on better-sqlite3 a drain once ran entirely in promise
      // callbacks and no timer (heartbeat, rescue, stop timeout) fired until it ended.
      expect(heaps.length).toBeGreaterThanOrEqual(5);
      expect(Math.max(...heaps) - Math.min(...heaps), heaps.join(', ')).toBeLessThan(15);
    }, 180_000);
  });
}
