// Rate limits in the limited claim, on every fixture: at most `limit` starts per sliding window
// across racing claimers, a retry's claim counting as a start, per-key counts independent of
// each other, and the window sliding (each start leaves it on its own, no fixed buckets). The
// race between worker processes is in rate-limit-processes.test.ts.
import { describe, expect, it } from 'vitest';
import type { QueueFlow } from '../../src/core/flow.js';
import { ConfigError, defineTarget } from '../../src/index.js';
import { coveredBy, fixtures, itOnNativeDrivers } from '../harness/dialects.js';
import { claimParams, executorHarness } from '../harness/executor-harness.js';
import { newTasks } from '../harness/new-tasks.js';
import { useHarness } from '../harness/use-harness.js';

const rated = (limit: number, periodMs: number, perKey = false): QueueFlow => ({
  queue: 'q',
  concurrency: null,
  keyConcurrency: 1000,
  fair: false,
  rateLimit: { limit, periodMs, perKey },
});

const limitedClaim = (lockedBy: string, limit: number, queueFlow: QueueFlow) => {
  const { queues: _queues, ...params } = claimParams(lockedBy, { limit });
  return { ...params, flow: queueFlow };
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const fixture of fixtures) {
  describe(`rate limit: ${fixture.label}`, () => {
    const harness = useHarness(fixture);
    const setup = () => executorHarness(harness(), fixture.dialect);

    it('racing claimers start at most `limit` in the window, and a retry is a start', async () => {
      const x = await setup();
      await x.insert(Array.from({ length: 30 }, () => ({ queue: 'q' })));
      const flow = rated(5, 60_000);
      const claims = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          x.run((e) => e.attemptClaimLimited(limitedClaim(`w${i}`, 3, flow))),
        ),
      );
      const claimed = claims.flatMap((claim) => claim.records);
      expect(claimed).toHaveLength(5);
      expect(new Set(claimed.map((record) => record.id)).size).toBe(5);

      // Finishing frees no start (unlike concurrency): the window is still full, so the retried
      // attempt, pending again, is not claimed either.
      const [retried] = claimed;
      await x.run((e) =>
        e.attemptCompleteMany(retried!.lockedBy!, [
          {
            id: retried!.id,
            numAttempts: retried!.numAttempts,
            status: 'pending',
            delayMs: 0,
            error: null,
          },
        ]),
      );
      expect((await x.get(retried!.id)).status).toBe('pending');
      const after = await x.run((e) => e.attemptClaimLimited(limitedClaim('w9', 10, flow)));
      expect(after.records).toEqual([]);
      // Another queue's rate limit is counted apart.
      await x.insert([{ queue: 'other' }]);
      const other = await x.run((e) =>
        e.attemptClaimLimited(limitedClaim('w9', 10, { ...flow, queue: 'other' })),
      );
      expect(other.records).toHaveLength(1);
    });

    it('perKey: each key (and the keyless, together) has its own count', async () => {
      const x = await setup();
      const keys = ['a', 'a', 'a', 'a', 'a', 'b', 'b', 'b', 'b', 'b', null, null, null];
      const inserted = await x.insert(keys.map((key) => ({ queue: 'q', concurrencyKey: key })));
      const keyOf = new Map(inserted.map((record, i) => [record.id, keys[i] ?? '-']));
      const flow = rated(2, 60_000, true);
      const claimedKeys = async (lockedBy: string) =>
        (await x.run((e) => e.attemptClaimLimited(limitedClaim(lockedBy, 100, flow)))).records
          .map((record) => keyOf.get(record.id) ?? 'c')
          .sort();
      expect(await claimedKeys('w1')).toEqual(['-', '-', 'a', 'a', 'b', 'b']);
      expect(await claimedKeys('w2')).toEqual([]);
      // A new key is not held back by the full ones.
      await x.insert([{ queue: 'q', concurrencyKey: 'c' }]);
      expect(await claimedKeys('w3')).toEqual(['c']);
    });

    itOnNativeDrivers(
      fixture,
      `it waits out a real window (about 1.1 s); the window arithmetic is the claim’s SQL, which runs through every driver in ${coveredBy('conformance/rate-limit.test.ts', 'racing claimers start at most `limit` in the window')}`,
    )('the window slides: each start leaves it periodMs after it was made', async () => {
      const x = await setup();
      await x.insert(Array.from({ length: 10 }, () => ({ queue: 'q' })));
      const flow = rated(2, 1000);
      const claim = async (limit: number) =>
        (await x.run((e) => e.attemptClaimLimited(limitedClaim('w', limit, flow)))).records.length;
      expect(await claim(1)).toBe(1);
      const firstDone = Date.now();
      await sleep(500);
      expect(await claim(10)).toBe(1);
      expect(await claim(10)).toBe(0);
      // The first start has left the window, the second not: room for one, not two.
      await sleep(firstDone + 1100 - Date.now());
      expect(await claim(10)).toBe(1);
      expect(await claim(10)).toBe(0);
    });
  });
}

describe('rate limit options', () => {
  const harness = useHarness(fixtures[0]!);
  const Mail = defineTarget('RateMail', { async send(_args: { to: string }): Promise<void> {} });
  const make = (rateLimit: unknown) => () =>
    newTasks(harness(), { targets: [Mail], queues: { mail: { rateLimit } } as never });

  it('refuses bad values with a ConfigError that says what to pass', () => {
    for (const [rateLimit, message] of [
      [
        { limit: 0, periodMs: 1000 },
        /rateLimit\.limit must be a whole number from 1 to 2147483647/,
      ],
      [{ limit: 2.5, periodMs: 1000 }, /rateLimit\.limit/],
      [{ limit: 10 }, /rateLimit\.periodMs must be a whole number of milliseconds/],
      [{ limit: 10, periodMs: -5 }, /rateLimit\.periodMs/],
      [{ limit: 10, periodMs: 31 * 24 * 3_600_000 }, /from 1 to 2592000000 \(30 days\)/],
      [{ limit: 10, periodMs: 1000, perKey: 'yes' }, /rateLimit\.perKey must be true or false/],
      [{ limit: 10, periodMs: 1000, per: 'key' }, /unknown option\(s\) per/],
      [100, /rateLimit must be an object such as \{ limit: 100, periodMs: 60_000 \}/],
    ] as const) {
      expect(make(rateLimit)).toThrow(ConfigError);
      expect(make(rateLimit)).toThrow(message);
    }
    expect(make({ limit: 100, periodMs: 60_000, perKey: true })).not.toThrow();
  });
});
