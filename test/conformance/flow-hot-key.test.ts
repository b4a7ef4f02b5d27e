// A keyed queue whose first due rows are all one key's (a bulk import for one customer, say):
// the keys behind it must still run, one per key at a time, while that key works through its
// backlog one attempt at a time. A claim that looked only at a prefix of the queue's due rows, or
// stopped widening once its first look had taken that key's first row, left them waiting until
// the whole backlog of the first key had run (on SQLite and MySQL/MariaDB: 0 of 2,000 other-key
// tasks ran in two minutes behind 100,000 of one key).
import { describe, expect, it } from 'vitest';
import { defineTarget } from '../../src/index.js';
import { coveredBy, fixtures, itOnNativeDrivers } from '../harness/dialects.js';
import { executorHarness } from '../harness/executor-harness.js';
import { flow, limitedClaim } from '../harness/flow-claims.js';
import { keyedTasks } from '../harness/keyed-tasks.js';
import { useHarness } from '../harness/use-harness.js';
import { useWorkers } from '../harness/use-workers.js';
import { waitFor } from '../harness/wait-for.js';

/** Attempts of the hot key: past any first look of a claim of 10 (10 × 4 + 256 rows). */
const hotBacklog = 1200;

let othersRan = 0;
const Import = defineTarget('FlowHotKey', {
  async row(args: { hot: boolean }): Promise<void> {
    if (args.hot) await new Promise((resolve) => setTimeout(resolve, 20));
    else othersRan += 1;
  },
});

for (const fixture of fixtures) {
  describe(`a hot key at the front of a keyed queue: ${fixture.label}`, () => {
    const harness = useHarness(fixture);
    const labels = (records: readonly { methodArgs: string | null }[]) =>
      records.map((record) => record.methodArgs);
    const setup = async () => {
      const x = await executorHarness(harness(), fixture.dialect);
      for (let i = 0; i < hotBacklog; i += 400) {
        await x.insert(
          Array.from({ length: 400 }, (_, j) => ({
            queue: 'q',
            concurrencyKey: 'hot',
            methodArgs: `"hot${i + j}"`,
          })),
        );
      }
      await x.insert([
        { queue: 'q', concurrencyKey: 'A', methodArgs: '"A1"' },
        { queue: 'q', concurrencyKey: 'B', methodArgs: '"B1"' },
        { queue: 'q', methodArgs: '"none1"' },
        { queue: 'q', concurrencyKey: 'A', methodArgs: '"A2"' },
        { queue: 'q', concurrencyKey: 'C', methodArgs: '"C1"' },
        { queue: 'q', methodArgs: '"none2"' },
        { queue: 'other', concurrencyKey: 'D', methodArgs: '"other"' },
      ]);
      return x;
    };

    it("a claim that takes the hot key's first attempt also takes the first of every other key", async () => {
      const x = await setup();
      const claimed = await x.run((e) => e.attemptClaimLimited(limitedClaim('w1', 10, flow())));
      expect(labels(claimed.records)).toEqual([
        '"hot0"',
        '"A1"',
        '"B1"',
        '"none1"',
        '"C1"',
        '"none2"',
      ]);
      // Every key is at its limit and the rows without a key are taken.
      const again = await x.run((e) => e.attemptClaimLimited(limitedClaim('w2', 10, flow())));
      expect(again.records).toEqual([]);
    });

    it('with the hot key running, a claim finds the keys behind its backlog', async () => {
      const x = await setup();
      const hot = await x.run((e) => e.attemptClaimLimited(limitedClaim('w1', 1, flow())));
      expect(labels(hot.records)).toEqual(['"hot0"']);
      const claimed = await x.run((e) => e.attemptClaimLimited(limitedClaim('w2', 3, flow())));
      expect(labels(claimed.records)).toEqual(['"A1"', '"B1"', '"none1"']);
      const rest = await x.run((e) => e.attemptClaimLimited(limitedClaim('w3', 10, flow())));
      expect(labels(rest.records)).toEqual(['"C1"', '"none2"']);
    });

    it('the same at a key concurrency of 2: each key gives its first two', async () => {
      const x = await setup();
      const two = flow({ keyConcurrency: 2 });
      const claimed = await x.run((e) => e.attemptClaimLimited(limitedClaim('w1', 10, two)));
      expect(labels(claimed.records)).toEqual([
        '"hot0"',
        '"hot1"',
        '"A1"',
        '"B1"',
        '"none1"',
        '"A2"',
        '"C1"',
        '"none2"',
      ]);
    });

    const track = useWorkers();
    itOnNativeDrivers(
      fixture,
      `the claims are the dialect's, which run on every driver in ${coveredBy('conformance/flow-hot-key.test.ts', "a claim that takes the hot key's first attempt also takes the first of every other key")}`,
    )(
      'a worker runs the other keys while the hot key works through its backlog',
      async () => {
        const tasks = await keyedTasks(harness(), Import);
        const options = (key: string) => ({ queue: 'keyed', concurrencyKey: key });
        for (let i = 0; i < hotBacklog; i += 400) {
          await harness().transaction((tx) =>
            tasks.enqueueMany(
              tx,
              Array.from({ length: 400 }, () => ({
                method: Import.row,
                args: { hot: true },
                options: options('hot'),
              })),
            ),
          );
        }
        await harness().transaction((tx) =>
          tasks.enqueueMany(
            tx,
            Array.from({ length: 40 }, (_, i) => ({
              method: Import.row,
              args: { hot: false },
              options: options(`k${i % 20}`),
            })),
          ),
        );
        othersRan = 0;
        const worker = track(tasks.worker({ concurrency: 10, pollIntervalMs: 50 }));
        await worker.start();
        // In due order the other keys would wait for 1,200 runs of 20 ms, one at a time.
        await waitFor('the 40 tasks of the other keys to run', () => othersRan === 40, 8_000);
        await worker.stop();
        const stats = await tasks.stats();
        const pending = stats.find((row) => row.queue === 'keyed' && row.status === 'pending');
        expect(pending?.count ?? 0, 'hot-key attempts still pending').toBeGreaterThan(800);
      },
      30_000,
    );
  });
}
