// The executor's dashboard reads called directly on every fixture: a schedule's newest tick
// (attemptGetLastInTokenRange) and a rate-limited queue's starts in the window (startCount).
import { describe, expect, it } from 'vitest';
import { tickToken } from '../../src/core/schedule.js';
import type { QueueFlow } from '../../src/core/flow.js';
import type { AttemptTokenRangeParams } from '../../src/seam/executor.js';
import { fixtures } from '../harness/dialects.js';
import { claimParams, executorHarness } from '../harness/executor-harness.js';
import { useHarness } from '../harness/use-harness.js';

const hour = 3_600_000;
const base = Date.UTC(2026, 11, 4, 10);

/** The range of schedule `name`'s ticks, its recent ticks being `recent` (newest first). */
function tickRange(name: string, recent: readonly number[]): AttemptTokenRangeParams {
  return {
    target: 'T',
    methodName: 'm',
    tokenFrom: tickToken(name, new Date('0000-01-01T00:00:00.000Z')),
    tokenTo: tickToken(name, new Date('9999-12-31T23:59:59.999Z')),
    tokenPrefix: `schedule:${name}:`,
    recentTokens: recent.map((ms) => tickToken(name, new Date(ms))),
  };
}

for (const fixture of fixtures) {
  describe(`executor dashboard reads: ${fixture.label}`, () => {
    const harness = useHarness(fixture);
    const setup = () => executorHarness(harness(), fixture.dialect);

    it('attemptGetLastInTokenRange finds the newest tick of one schedule, not of a schedule whose name extends it', async () => {
      const x = await setup();
      const ticks = [0, 1, 2].map((n) => base + n * hour);
      const [, , newest] = await x.insert([
        ...ticks.map((ms) => ({ idempotenceToken: tickToken('a', new Date(ms)) })),
        // Sort after a's ticks, and inside their range under many collations.
        { idempotenceToken: tickToken('a:3', new Date(base + 5 * hour)) },
        { idempotenceToken: tickToken('a:b', new Date(base + 5 * hour)) },
        { idempotenceToken: 'schedule:a:5' },
        // Another method's tick of the same schedule name.
        { methodName: 'n', idempotenceToken: tickToken('a', new Date(base + 9 * hour)) },
        { idempotenceToken: 'other' },
      ]);
      const recent = [...ticks].reverse();
      const found = await x.run((e) => e.attemptGetLastInTokenRange(tickRange('a', recent)));
      expect(found).toEqual(await x.get(newest!.id));
      expect(await x.run((e) => e.attemptGetLastInTokenRange(tickRange('b', recent)))).toBeNull();
      expect(
        await x.run((e) =>
          e.attemptGetLastInTokenRange({ ...tickRange('a', recent), target: 'U' }),
        ),
      ).toBeNull();
    });

    it('startCount counts the starts of a rate-limited queue in the window, and its busiest key', async () => {
      const x = await setup();
      const flow: QueueFlow = {
        queue: 'mail',
        concurrency: null,
        keyConcurrency: 10,
        fair: false,
        rateLimit: { limit: 100, periodMs: 60_000, perKey: true },
      };
      expect(await x.run((e) => e.startCount('mail', 60_000))).toEqual({
        started: 0,
        busiestKey: null,
      });
      await x.insert([
        { queue: 'mail', concurrencyKey: 'k1' },
        { queue: 'mail', concurrencyKey: 'k2' },
        { queue: 'mail', concurrencyKey: 'k2' },
        { queue: 'mail' },
        { queue: 'other' },
      ]);
      const claimed = await x.run((e) => e.attemptClaimLimited({ ...claimParams('w1'), flow }));
      expect(claimed.records).toHaveLength(4);
      expect(await x.run((e) => e.startCount('mail', 60_000))).toEqual({
        started: 4,
        busiestKey: { key: 'k2', started: 2 },
      });
      expect(await x.run((e) => e.startCount('other', 60_000))).toEqual({
        started: 0,
        busiestKey: null,
      });
    });
  });
}
