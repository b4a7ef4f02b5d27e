// Large arguments hold fewer attempts: a worker with defaults keeps the stored arguments of what
// it holds (running plus claimed ahead) near `ClaimSizer.maxHeldArgChars`, where its rate alone
// would hold up to 2,000 attempts (200 MB of 100 KB payloads, as text and again parsed). The hold
// is the worker's, not the driver's: it runs on one native driver per dialect (every driver's
// claim is the executor conformance suite's).
import { describe, expect, it } from 'vitest';
import { defineTarget } from '../../src/index.js';
import { ClaimSizer } from '../../src/worker/claim-sizer.js';
import { fixtures, nativeFixtureLabels } from '../harness/dialects.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { useHarness } from '../harness/use-harness.js';
import { waitFor } from '../harness/wait-for.js';

const count = 400;
const payloadChars = 200_000;

for (const fixture of fixtures.filter((f) => nativeFixtureLabels.includes(f.label))) {
  describe(fixture.label, () => {
    const harness = useHarness(fixture);

    it(`a worker holds at most ${ClaimSizer.maxHeldArgChars} characters of arguments (and never fewer than concurrency attempts)`, async () => {
      let ran = 0;
      const Big = defineTarget('Big', {
        handle(args: { i: number; body: string }) {
          if (args.body.length !== payloadChars) throw new Error(`task ${args.i}: body cut`);
          ran += 1;
        },
      });
      const tasks = await migratedTasks(harness(), { targets: [Big] });
      const body = 'b'.repeat(payloadChars);
      // Small batches: MySQL's default max_allowed_packet is 16 MB.
      for (let from = 0; from < count; from += 20) {
        await harness().transaction((tx) =>
          tasks.enqueueMany(
            tx,
            Array.from({ length: 20 }, (_, j) => ({
              method: Big.handle,
              args: { i: from + j, body },
            })),
          ),
        );
      }
      const concurrency = 10;
      const worker = tasks.worker({ concurrency, pollIntervalMs: 100 });
      let claimed = 0;
      let peakHeld = 0;
      worker.on('claimed', ({ count: n }) => {
        claimed += n;
        // Claimed and not yet run, or running: what the worker holds right after this claim.
        peakHeld = Math.max(peakHeld, claimed - ran);
      });
      try {
        await worker.start();
        await waitFor('every handler to run', () => ran === count, 60_000);
      } finally {
        await worker.stop();
      }
      const perAttempt = payloadChars + JSON.stringify({ i: 0, body: '' }).length;
      const bound = Math.max(concurrency, Math.floor(ClaimSizer.maxHeldArgChars / perAttempt));
      expect(peakHeld).toBeLessThanOrEqual(bound);
      const stats = await tasks.stats();
      expect(stats.map(({ status, count: n }) => [status, n])).toEqual([['succeeded', count]]);
    }, 120_000);
  });
}
