// Limited claims across priorities, on every fixture. A limited claim walks one priority at a
// time (lowest first) and stops at each one's first attempt scheduled for later: these check that
// the limits still span the priorities (each pass counts what the passes before it claimed), that
// attempts scheduled for later are left alone, and that fairness still ranks every priority at
// once. What the walk saves is measured in test/integration/limited-claim-cost.test.ts.
import { describe, expect, it } from 'vitest';
import { fixtures } from '../harness/dialects.js';
import { executorHarness } from '../harness/executor-harness.js';
import { flow, limitedClaim } from '../harness/flow-claims.js';
import { useHarness } from '../harness/use-harness.js';

const tomorrow = () => new Date(Date.now() + 86_400_000);

for (const fixture of fixtures) {
  describe(`limited claims across priorities: ${fixture.label}`, () => {
    const harness = useHarness(fixture);
    const setup = async () => {
      const x = await executorHarness(harness(), fixture.dialect);
      // Scheduled for later, at the lowest priorities and at the first due one: never claimed.
      await x.insert([
        { queue: 'q', priority: -1, scheduledAt: tomorrow(), concurrencyKey: 'C' },
        { queue: 'q', priority: -1, scheduledAt: tomorrow() },
        { queue: 'q', priority: 0, scheduledAt: tomorrow(), concurrencyKey: 'B' },
      ]);
      // Another queue's attempt, due and first in priority: not this queue's.
      await x.insert([{ queue: 'other', priority: -2 }]);
      return x;
    };
    const labels = (records: readonly { methodArgs: string | null }[]) =>
      records.map((record) => record.methodArgs);

    it('per key: a key claimed at one priority is at its limit at the next', async () => {
      const x = await setup();
      await x.insert([
        { queue: 'q', priority: 0, concurrencyKey: 'A', methodArgs: '"A0"' },
        { queue: 'q', priority: 0, concurrencyKey: 'A', methodArgs: '"A0b"' },
        { queue: 'q', priority: 1, concurrencyKey: 'B', methodArgs: '"B1"' },
        { queue: 'q', priority: 1, concurrencyKey: 'A', methodArgs: '"A1"' },
        { queue: 'q', priority: 2, methodArgs: '"none2"' },
      ]);
      const claimed = await x.run((e) => e.attemptClaimLimited(limitedClaim('w1', 10, flow())));
      expect(labels(claimed.records)).toEqual(['"A0"', '"B1"', '"none2"']);
      const again = await x.run((e) => e.attemptClaimLimited(limitedClaim('w2', 10, flow())));
      expect(again.records).toEqual([]);
    });

    it("the queue's concurrency spans priorities, lowest first", async () => {
      const x = await setup();
      await x.insert([
        { queue: 'q', priority: 0, methodArgs: '"p0"' },
        { queue: 'q', priority: 1, methodArgs: '"p1"' },
        { queue: 'q', priority: 1, methodArgs: '"p1b"' },
        { queue: 'q', priority: 3, methodArgs: '"p3"' },
      ]);
      const limited = flow({ concurrency: 3 });
      const first = await x.run((e) => e.attemptClaimLimited(limitedClaim('w1', 10, limited)));
      expect(labels(first.records)).toEqual(['"p0"', '"p1"', '"p1b"']);
      const second = await x.run((e) => e.attemptClaimLimited(limitedClaim('w2', 10, limited)));
      expect(second.records).toEqual([]);
      // Without a queue limit, what is left (only the last priority) is still found.
      const rest = await x.run((e) => e.attemptClaimLimited(limitedClaim('w3', 10, flow())));
      expect(labels(rest.records)).toEqual(['"p3"']);
    });

    it('a per-key rate limit counts the starts of the priorities claimed before', async () => {
      const x = await setup();
      await x.insert([
        { queue: 'q', priority: 0, concurrencyKey: 'A', methodArgs: '"A0"' },
        { queue: 'q', priority: 1, concurrencyKey: 'A', methodArgs: '"A1"' },
        { queue: 'q', priority: 1, concurrencyKey: 'B', methodArgs: '"B1"' },
        { queue: 'q', priority: 2, concurrencyKey: 'B', methodArgs: '"B2"' },
      ]);
      const perKey = flow({
        keyConcurrency: 100,
        rateLimit: { limit: 1, periodMs: 60_000, perKey: true },
      });
      const claimed = await x.run((e) => e.attemptClaimLimited(limitedClaim('w1', 10, perKey)));
      expect(labels(claimed.records)).toEqual(['"A0"', '"B1"']);
    });

    it('a rate limit across the queue counts the starts of the priorities claimed before', async () => {
      const y = await setup();
      await y.insert([
        { queue: 'q', priority: 0, methodArgs: '"p0"' },
        { queue: 'q', priority: 1, methodArgs: '"p1"' },
        { queue: 'q', priority: 2, methodArgs: '"p2"' },
      ]);
      const acrossQueue = flow({ rateLimit: { limit: 2, periodMs: 60_000, perKey: false } });
      const two = await y.run((e) => e.attemptClaimLimited(limitedClaim('w1', 10, acrossQueue)));
      expect(labels(two.records)).toEqual(['"p0"', '"p1"']);
      const none = await y.run((e) => e.attemptClaimLimited(limitedClaim('w2', 10, acrossQueue)));
      expect(none.records).toEqual([]);
    });

    it('fair: round-robin across keys spans priorities; attempts scheduled for later wait', async () => {
      const x = await setup();
      await x.insert([
        { queue: 'q', priority: 0, concurrencyKey: 'A', methodArgs: '"A0"' },
        { queue: 'q', priority: 0, concurrencyKey: 'A', methodArgs: '"A0b"' },
        { queue: 'q', priority: 0, concurrencyKey: 'A', methodArgs: '"A0c"' },
        { queue: 'q', priority: 1, concurrencyKey: 'B', methodArgs: '"B1"' },
        { queue: 'q', priority: 5, concurrencyKey: 'D', methodArgs: '"D5"' },
      ]);
      const fair = flow({ keyConcurrency: 1000, fair: true });
      // Every key's first, by priority, then the second: A's second after D's first.
      const claimed = await x.run((e) => e.attemptClaimLimited(limitedClaim('w1', 4, fair)));
      expect(labels(claimed.records).sort()).toEqual(['"A0"', '"A0b"', '"B1"', '"D5"']);
      const rest = await x.run((e) => e.attemptClaimLimited(limitedClaim('w2', 10, fair)));
      expect(labels(rest.records)).toEqual(['"A0c"']);
    });
  });
}
