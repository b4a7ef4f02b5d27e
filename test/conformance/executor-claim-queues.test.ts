// A claim of some queues (a worker's `queues`, or every queue but some) across many priorities:
// each pass takes several priorities at once where the dialect can (PostgreSQL's claim function
// and MySQL's queue claims took one priority per pass, a statement or more per queue each), and
// each queue's share of them has to be the one a single ordered read of every queue would give.
import { describe, expect, it } from 'vitest';
import type { AttemptRecord } from '../../src/core/attempt.js';
import { claimOrder } from '../../src/dialects/attempt-rows.js';
import { fixtures } from '../harness/dialects.js';
import { claimParams, executorHarness } from '../harness/executor-harness.js';
import { useHarness } from '../harness/use-harness.js';

const ids = (records: readonly { id: string }[]): string[] => records.map((record) => record.id);

for (const fixture of fixtures) {
  describe(`executor: ${fixture.label}`, () => {
    const harness = useHarness(fixture);
    const setup = () => executorHarness(harness(), fixture.dialect);

    /**
     * Priorities 0..69, each with one attempt in `a` and one in `b` due now (in every third
     * priority `b`'s is the earlier, in the others `a`'s); every fifth priority's `a` due in an
     * hour instead; every fourth priority one in `c` due now. Returns the attempts of `a` and `b` due now, in claim order.
     */
    async function spread(x: Awaited<ReturnType<typeof setup>>): Promise<AttemptRecord[]> {
      const now = Date.now();
      const rows = Array.from({ length: 70 }, (_, p) => [
        {
          priority: p,
          queue: 'a',
          scheduledAt: new Date(p % 5 === 4 ? now + 3_600_000 : now - 5_000 - (p % 3) * 2_000),
        },
        { priority: p, queue: 'b', scheduledAt: new Date(now - 6_000 - p) },
        ...(p % 4 === 0 ? [{ priority: p, queue: 'c', scheduledAt: new Date(now - 9_000) }] : []),
      ]).flat();
      const inserted = await x.insert(rows);
      return inserted
        .filter((r) => r.queue !== 'c' && r.scheduledAt.getTime() <= now)
        .sort(claimOrder);
    }

    for (const [label, taken] of [
      ['queues a and b', { queues: ['a', 'b'] }],
      ['every queue but c', { queues: null, exceptQueues: ['c'] }],
    ] as const) {
      it(`attemptClaim of ${label} across 70 priorities takes each one's share in claim order`, async () => {
        const x = await setup();
        const expected = await spread(x);
        const claim = (limit: number) =>
          x
            .run((e) => e.attemptClaim(claimParams('w', { ...taken, limit })))
            .then((r) => ids(r.records));
        // Cuts inside priorities and lists of them: 1, then 44 (past 32 priorities), then 29.
        expect(await claim(1)).toEqual(ids(expected.slice(0, 1)));
        expect(await claim(44)).toEqual(ids(expected.slice(1, 45)));
        expect(await claim(29)).toEqual(ids(expected.slice(45, 74)));
        expect(await claim(500)).toEqual(ids(expected.slice(74)));
        expect(await claim(500)).toEqual([]);
      });
    }

    // SQLite's statement for some queues has room for 2, 4, 8, 16 or 32 of them.
    it('attemptClaim of 3, 5, 9 and 17 queues takes each one’s due attempts in claim order', async () => {
      const x = await setup();
      const now = Date.now();
      const inserted = await x.insert(
        Array.from({ length: 18 }, (_, q) =>
          [0, 1].map((n) => ({
            queue: `q${q}`,
            priority: (q * 7 + n * 3) % 5,
            scheduledAt: new Date(now - 1_000 - q * 10 - n),
          })),
        ).flat(),
      );
      for (const count of [3, 5, 9, 17]) {
        const queues = Array.from({ length: count }, (_, q) => `q${q}`);
        const due = inserted
          .filter((r) => queues.includes(r.queue) && r.status === 'pending')
          .sort(claimOrder);
        const claimed = await x.run((e) =>
          e.attemptClaim(claimParams('w', { queues, limit: count + 1 })),
        );
        expect(ids(claimed.records), `${count} queues`).toEqual(ids(due.slice(0, count + 1)));
        for (const record of claimed.records) {
          Object.assign(
            inserted.find((r) => r.id === record.id)!,
            { status: 'running' },
          );
        }
      }
      // q17 was in none of the claims.
      expect(inserted.filter((r) => r.queue === 'q17' && r.status !== 'pending')).toEqual([]);
    });

    it('attemptClaim of one queue across 70 priorities takes its rows in claim order', async () => {
      const x = await setup();
      const expected = (await spread(x)).filter((r) => r.queue === 'a');
      const claim = (limit: number) =>
        x
          .run((e) => e.attemptClaim(claimParams('w', { queues: ['a'], limit })))
          .then((r) => ids(r.records));
      expect(await claim(1)).toEqual(ids(expected.slice(0, 1)));
      expect(await claim(40)).toEqual(ids(expected.slice(1, 41)));
      expect(await claim(500)).toEqual(ids(expected.slice(41)));
    });
  });
}
