// Limited claims over many priorities, on every fixture. After the lowest priority a limited
// claim's first look takes up to 32 priorities with a due attempt at once (it took one per pass:
// a queue whose every attempt had a priority of its own drained at a fifth of its rate), and a
// look by key follows only a first look that did not see every due attempt of them. These check
// that the lists take what one priority at a time took; flow-priorities.test.ts checks the walk's
// other rules, test/integration/claim-due-priorities.test.ts how many statements it runs.
import { describe, expect, it } from 'vitest';
import { fixtures } from '../harness/dialects.js';
import { executorHarness } from '../harness/executor-harness.js';
import { flow, limitedClaim } from '../harness/flow-claims.js';
import { useHarness } from '../harness/use-harness.js';

const ago = (ms: number): Date => new Date(Date.now() - ms);

for (const fixture of fixtures) {
  describe(`limited claims over lists of priorities: ${fixture.label}`, () => {
    const harness = useHarness(fixture);
    const setup = () => executorHarness(harness(), fixture.dialect);
    const labels = (records: readonly { methodArgs: string | null }[]) =>
      records.map((record) => record.methodArgs);

    it('takes 70 priorities of one attempt each in order, across claims', async () => {
      const x = await setup();
      await x.insert(
        Array.from({ length: 70 }, (_, p) => ({
          queue: 'q',
          priority: 69 - p,
          scheduledAt: ago(1_000 + p),
          methodArgs: `"p${69 - p}"`,
        })),
      );
      const first = await x.run((e) => e.attemptClaimLimited(limitedClaim('w1', 50, flow())));
      expect(labels(first.records)).toEqual(Array.from({ length: 50 }, (_, p) => `"p${p}"`));
      const rest = await x.run((e) => e.attemptClaimLimited(limitedClaim('w2', 50, flow())));
      expect(labels(rest.records)).toEqual(Array.from({ length: 20 }, (_, p) => `"p${50 + p}"`));
    });

    it("behind a key whose backlog fills a look's prefix, the other keys of that priority and the next ones", async () => {
      const x = await setup();
      await x.insert([
        { queue: 'q', priority: 0, concurrencyKey: 'Z', methodArgs: '"Z0"' },
        // 400 of key H first at priority 1: more than a first look of 10 reads (10 × 4 + 256).
        ...Array.from({ length: 400 }, (_, i) => ({
          queue: 'q',
          priority: 1,
          concurrencyKey: 'H',
          scheduledAt: ago(60_000 - i),
          methodArgs: `"H1-${i}"`,
        })),
        ...['K1', 'K2', 'K3'].map((key) => ({
          queue: 'q',
          priority: 1,
          concurrencyKey: key,
          scheduledAt: ago(1_000),
          methodArgs: `"${key}"`,
        })),
        { queue: 'q', priority: 2, concurrencyKey: 'H', methodArgs: '"H2"' },
        { queue: 'q', priority: 2, concurrencyKey: 'K4', methodArgs: '"K4"' },
        { queue: 'q', priority: 3, concurrencyKey: 'K5', methodArgs: '"K5"' },
      ]);
      const claimed = await x.run((e) => e.attemptClaimLimited(limitedClaim('w1', 10, flow())));
      expect(labels(claimed.records)).toEqual([
        '"Z0"',
        '"H1-0"',
        '"K1"',
        '"K2"',
        '"K3"',
        '"K4"',
        '"K5"',
      ]);
    });

    it('fair: ranks every pending priority at once, past 32 of them', async () => {
      const x = await setup();
      await x.insert(
        Array.from({ length: 40 }, (_, p) =>
          ['A', 'B'].map((key) => ({
            queue: 'q',
            priority: 39 - p,
            concurrencyKey: key,
            methodArgs: `"${key}${39 - p}"`,
          })),
        ).flat(),
      );
      const fair = flow({ keyConcurrency: 100, fair: true });
      const claimed = await x.run((e) => e.attemptClaimLimited(limitedClaim('w1', 10, fair)));
      const taken = labels(claimed.records);
      for (const key of ['A', 'B']) {
        expect(taken.filter((label) => label!.startsWith(`"${key}`)).sort()).toEqual(
          [0, 1, 2, 3, 4].map((p) => `"${key}${p}"`),
        );
      }
      expect(taken).toHaveLength(10);
    });
  });
}
