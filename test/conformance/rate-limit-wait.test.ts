// A worker whose rate-limited queue fills its window claims again when the window has room, not
// after its poll interval: with `{ limit: 4, periodMs: 250 }` and a poll interval of 10 s, 16
// tasks take about three windows. Before, a full window made the worker wait out its poll
// interval (a queue limited to 50/s ran at 5/s with the default second).
import { describe, expect, it } from 'vitest';
import type { QueueFlow } from '../../src/core/flow.js';
import { defineTarget } from '../../src/index.js';
import { fixtures, itOnNativeDrivers } from '../harness/dialects.js';
import { claimParams, executorHarness } from '../harness/executor-harness.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { useHarness } from '../harness/use-harness.js';
import { useWorkers } from '../harness/use-workers.js';
import { waitFor } from '../harness/wait-for.js';

const periodMs = 250;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const fixture of fixtures) {
  describe(`rate limit wait: ${fixture.label}`, () => {
    const harness = useHarness(fixture);
    const track = useWorkers();

    it('flowRateWindow: how long a full window lasts, per key too, and one that freed lately', async () => {
      const x = await executorHarness(harness(), fixture.dialect);
      // Long enough that the statements after the claim run well within it on a loaded machine.
      const windowMs = 400;
      const keys = ['a', 'a', 'a', 'b'];
      await x.insert(keys.map((key) => ({ queue: 'q', concurrencyKey: key })));
      const flow = (perKey: boolean): QueueFlow => ({
        queue: 'q',
        concurrency: null,
        keyConcurrency: 100,
        fair: false,
        rateLimit: { limit: 2, periodMs: windowMs, perKey },
      });
      const window = (perKey: boolean) => x.run((e) => e.flowRateWindow(flow(perKey)));
      expect(await window(true)).toEqual({ fullForMs: null, freedLately: false });
      const { queues: _queues, ...params } = claimParams('w1', { limit: 10 });
      // Per key: a's two starts fill its window, b's one does not; across the queue, three do.
      const claimed = await x.run((e) => e.attemptClaimLimited({ ...params, flow: flow(true) }));
      expect(claimed.records).toHaveLength(3);
      for (const perKey of [true, false]) {
        const full = await window(perKey);
        expect(full.fullForMs, `perKey ${perKey}`).toBeGreaterThan(0);
        expect(full.fullForMs, `perKey ${perKey}`).toBeLessThanOrEqual(windowMs);
        expect(full.freedLately).toBe(false);
      }
      await sleep(windowMs + 50);
      expect(await window(true)).toEqual({ fullForMs: null, freedLately: true });
      // Two periods on, the full window is history.
      await sleep(windowMs + 50);
      expect(await window(true)).toEqual({ fullForMs: null, freedLately: false });
      expect(await x.run((e) => e.flowRateWindow({ ...flow(true), rateLimit: null }))).toEqual({
        fullForMs: null,
        freedLately: false,
      });
    });

    for (const perKey of [false, true]) {
      itOnNativeDrivers(
        fixture,
        'the wait under test is the worker’s; each driver reads the window in the flowRateWindow test',
      )(
        `a full window${perKey ? ' of each key' : ''} is waited out, not the poll interval`,
        async () => {
          const started: number[] = [];
          const Rated = defineTarget('RatedWait', {
            run(_args: { n: number }) {
              started.push(performance.now());
            },
          });
          // Per key: two keys of 2 per window, 8 tasks each; else 4 per window across the queue.
          const limit = perKey ? 2 : 4;
          const tasks = await migratedTasks(harness(), {
            targets: [Rated],
            queues: { rated: { keyConcurrency: 100, rateLimit: { limit, periodMs, perKey } } },
          });
          const count = 16;
          await harness().transaction((tx) =>
            tasks.enqueueMany(
              tx,
              Array.from({ length: count }, (_, n) => ({
                method: Rated.run,
                args: { n },
                options: { queue: 'rated', ...(perKey ? { concurrencyKey: `k${n % 2}` } : {}) },
              })),
            ),
          );
          const worker = track(tasks.worker({ pollIntervalMs: 10_000, concurrency: 4 }));
          const from = performance.now();
          await worker.start();
          // Three windows after the first claim, plus slack for a loaded machine; waiting out the
          // poll interval would take more than 10 s.
          await waitFor(`all ${count} tasks to start`, () => started.length === count, 5_000);
          const elapsed = performance.now() - from;
          await worker.stop();
          expect(elapsed).toBeLessThan(5_000);
          // And the limit held back the starts: the last four (per key: two) came three windows
          // after the first (the handlers' own clocks, which lag their claims by varying amounts on
          // a loaded machine: more than two windows). Without the limit, all 16 within a few ms.
          expect(Math.max(...started) - Math.min(...started)).toBeGreaterThan(2 * periodMs);
        },
      );
    }
  });
}
