// Flow control in the claim, on every fixture: global and per-key concurrency, the plain claim
// leaving limited queues alone, fair claims across keys, and concurrencyKey written by enqueue
// and enqueueMany through every driver. The races between worker processes are in
// flow-control-processes.test.ts.
import { describe, expect, it } from 'vitest';
import { ConfigError, defineTarget } from '../../src/index.js';
import { coveredBy, fixtures, itOnNativeDrivers } from '../harness/dialects.js';
import { claimParams, executorHarness } from '../harness/executor-harness.js';
import { flow, limitedClaim } from '../harness/flow-claims.js';
import { newTasks } from '../harness/new-tasks.js';
import { useHarness } from '../harness/use-harness.js';
import { useWorkers } from '../harness/use-workers.js';
import { waitFor } from '../harness/wait-for.js';

const Mail = defineTarget('FlowMail', {
  async send(_args: { to: string }): Promise<void> {},
});

/** Which tenant each started run belonged to, in start order (the fairness test's handler). */
const starts: string[] = [];
const Tenant = defineTarget('FlowTenant', {
  async work(args: { tenant: string }): Promise<void> {
    starts.push(args.tenant);
    await new Promise((resolve) => setTimeout(resolve, 1));
  },
});

for (const fixture of fixtures) {
  describe(`flow control: ${fixture.label}`, () => {
    const harness = useHarness(fixture);
    const setup = () => executorHarness(harness(), fixture.dialect);

    it('a limited claim takes at most the room under the queue limit, whoever claims', async () => {
      const x = await setup();
      await x.insert(Array.from({ length: 8 }, () => ({ queue: 'q' })));
      await x.insert([{ queue: 'other' }]);
      const limited = flow({ concurrency: 3 });

      const first = await x.run((e) => e.attemptClaimLimited(limitedClaim('w1', 2, limited)));
      expect(first.records).toHaveLength(2);
      const second = await x.run((e) => e.attemptClaimLimited(limitedClaim('w2', 10, limited)));
      expect(second.records.map((r) => r.queue)).toEqual(['q']);
      const third = await x.run((e) => e.attemptClaimLimited(limitedClaim('w3', 10, limited)));
      expect(third.records).toEqual([]);

      // A finished run makes room for exactly one more.
      const [done] = first.records;
      await x.run((e) =>
        e.attemptCompleteMany('w1', [
          {
            id: done!.id,
            numAttempts: done!.numAttempts,
            status: 'succeeded',
            delayMs: 0,
            error: null,
          },
        ]),
      );
      const fourth = await x.run((e) => e.attemptClaimLimited(limitedClaim('w3', 10, limited)));
      expect(fourth.records).toHaveLength(1);
    });

    it("a dead worker's expired lease counts until the rescuer hands it back, then frees its slot", async () => {
      const x = await setup();
      await x.insert([{ queue: 'q' }, { queue: 'q' }]);
      const one = flow({ concurrency: 1 });
      const dead = await x.run((e) =>
        e.attemptClaimLimited({ ...limitedClaim('dead', 10, one), leaseMs: 1 }),
      );
      expect(dead.records).toHaveLength(1);
      await new Promise((resolve) => setTimeout(resolve, 20));
      // Expired but not rescued: still running, so the limit still holds.
      expect(
        (await x.run((e) => e.attemptClaimLimited(limitedClaim('w2', 10, one)))).records,
      ).toEqual([]);
      expect(await x.run((e) => e.attemptRescueExpired(10))).toHaveLength(1);
      const after = await x.run((e) => e.attemptClaimLimited(limitedClaim('w2', 10, one)));
      expect(after.records).toHaveLength(1);
    });

    it('per key: at most keyConcurrency running per key, and a busy key holds back no other', async () => {
      const x = await setup();
      await x.insert([
        ...Array.from({ length: 5 }, () => ({ queue: 'q', concurrencyKey: 'busy' })),
        { queue: 'q', concurrencyKey: 'calm' },
        { queue: 'q' },
      ]);
      const first = await x.run((e) =>
        e.attemptClaimLimited(limitedClaim('w1', 10, flow({ keyConcurrency: 2 }))),
      );
      // Two of 'busy', the one of 'calm', the one without a key.
      expect(first.records).toHaveLength(4);
      const again = await x.run((e) =>
        e.attemptClaimLimited(limitedClaim('w2', 10, flow({ keyConcurrency: 2 }))),
      );
      expect(again.records).toEqual([]);
    });

    it('a busy key whose backlog is longer than the first look of a claim hides no other key', async () => {
      const x = await setup();
      const keyed = flow({ keyConcurrency: 1 });
      // A claim first reads the queue's first limit * 4 + 256 due rows: here all 'busy', whose
      // one slot is taken, so that read yields nothing and the claim must read on.
      const [busy] = await x.insert(
        Array.from({ length: 400 }, () => ({ queue: 'q', concurrencyKey: 'busy' })),
      );
      const [calm] = await x.insert([{ queue: 'q', concurrencyKey: 'calm' }]);
      const first = await x.run((e) => e.attemptClaimLimited(limitedClaim('w1', 1, keyed)));
      expect(first.records.map((r) => r.id)).toEqual([busy!.id]);
      const second = await x.run((e) => e.attemptClaimLimited(limitedClaim('w2', 5, keyed)));
      expect(second.records.map((r) => r.id)).toEqual([calm!.id]);
      expect(
        (await x.run((e) => e.attemptClaimLimited(limitedClaim('w3', 5, keyed)))).records,
      ).toEqual([]);
    });

    it('fair: claims round-robin across keys, so a key enqueued behind a backlog is not delayed', async () => {
      const x = await setup();
      await x.insert(Array.from({ length: 30 }, () => ({ queue: 'q', concurrencyKey: 'A' })));
      const late = await x.insert(
        Array.from({ length: 3 }, () => ({ queue: 'q', concurrencyKey: 'B' })),
      );
      const fairFlow = flow({ keyConcurrency: 1000, fair: true });
      const claimed = await x.run((e) => e.attemptClaimLimited(limitedClaim('w1', 6, fairFlow)));
      expect(claimed.records).toHaveLength(6);
      expect(claimed.records.map((r) => r.id)).toEqual(
        expect.arrayContaining(late.map((r) => r.id)),
      );
      // Without fairness the same claim would take A's first six.
      const x2 = await x.run((e) =>
        e.attemptClaimLimited(limitedClaim('w2', 6, flow({ keyConcurrency: 1000 }))),
      );
      expect(x2.records.every((r) => !late.some((l) => l.id === r.id))).toBe(true);
    });

    it("fair: a claim past every key's first attempts takes the next ranks of the keys with more", async () => {
      const x = await setup();
      const a = await x.insert(
        Array.from({ length: 30 }, () => ({ queue: 'q', concurrencyKey: 'A' })),
      );
      const b = await x.insert(
        Array.from({ length: 3 }, () => ({ queue: 'q', concurrencyKey: 'B' })),
      );
      const c = await x.insert([{ queue: 'q', concurrencyKey: 'C' }]);
      const loose = await x.insert([{ queue: 'q' }, { queue: 'q' }]);
      const fairFlow = flow({ keyConcurrency: 1000, fair: true });
      const claimed = await x.run((e) => e.attemptClaimLimited(limitedClaim('w1', 12, fairFlow)));
      // Ranks 1 (A, B, C, no key), 2 (A, B, no key), 3 (A, B), then A's fourth to sixth: a look
      // that takes each group's first few falls short on B, C and the rows without a key.
      const ids = (rows: readonly { id: string }[]) => rows.map((r) => r.id).sort();
      expect(ids(claimed.records)).toEqual(ids([...a.slice(0, 6), ...b, ...c, ...loose]));
    });

    it('the plain claim leaves out the queues with limits (exceptQueues)', async () => {
      const x = await setup();
      await x.insert([{ queue: 'q' }, { queue: 'r' }, { queue: 'default' }]);
      const claimed = await x.run((e) =>
        e.attemptClaim(claimParams('w1', { exceptQueues: ['q', 'r'] })),
      );
      expect(claimed.records.map((r) => r.queue)).toEqual(['default']);
    });

    it('enqueue and enqueueMany write concurrencyKey, which the limited claim groups by', async () => {
      const tasks = newTasks(harness(), {
        targets: [Mail],
        queues: { mail: { keyConcurrency: 1 } },
      });
      await tasks.migrate();
      await harness().transaction(async (tx) => {
        await tasks.enqueue(tx, Mail.send, { to: 'a' }, { queue: 'mail', concurrencyKey: 'k1' });
        await tasks.enqueueMany(tx, [
          {
            method: Mail.send,
            args: { to: 'b' },
            options: { queue: 'mail', concurrencyKey: 'k1' },
          },
          {
            method: Mail.send,
            args: { to: 'c' },
            options: { queue: 'mail', concurrencyKey: 'k2' },
          },
        ]);
      });
      const claimed = await harness().driver.run((connection) =>
        tasks.runtime
          .executor(connection)
          .attemptClaimLimited(limitedClaim('w1', 10, flow({ queue: 'mail' }))),
      );
      expect(claimed.records.map((r) => r.methodArgs).sort()).toEqual([
        JSON.stringify({ to: 'a' }),
        JSON.stringify({ to: 'c' }),
      ]);
    });

    const itNative = itOnNativeDrivers(
      fixture,
      `the order is the dialect's claim, below the driver, which runs through every driver with a small backlog in ${coveredBy('conformance/flow-control.test.ts', 'fair: claims round-robin across keys')}; this one enqueues 10,000`,
    );
    const track = useWorkers();

    itNative(
      "fairness 'key': 10 tasks of B enqueued behind 10,000 of A all start within A's first 5%",
      async () => {
        const tasks = newTasks(harness(), {
          targets: [Tenant],
          queues: { tenants: { keyConcurrency: 10_000, fairness: 'key' } },
        });
        await tasks.migrate();
        const enqueue = (tenant: string, count: number) =>
          harness().transaction((tx) =>
            tasks.enqueueMany(
              tx,
              Array.from({ length: count }, () => ({
                method: Tenant.work,
                args: { tenant },
                options: { queue: 'tenants', concurrencyKey: tenant },
              })),
            ),
          );
        for (let i = 0; i < 10; i += 1) await enqueue('A', 1000);
        await enqueue('B', 10);
        starts.length = 0;
        const worker = track(tasks.worker({ concurrency: 10, pollIntervalMs: 50 }));
        await worker.start();
        await waitFor(
          'B to start 10 times',
          () => starts.filter((t) => t === 'B').length >= 10,
          20_000,
        );
        await worker.stop();
        const lastB = starts.lastIndexOf('B');
        const aBefore = starts.slice(0, lastB).filter((t) => t === 'A').length;
        // In due order B would start after all 10,000 of A.
        expect(aBefore, `A's started before B's last`).toBeLessThanOrEqual(500);
      },
      60_000,
    );

    it('a worker claims a limited queue within its limit and the others as before', async () => {
      const tasks = newTasks(harness(), {
        targets: [Mail],
        queues: { mail: { concurrency: 2 } },
      });
      await tasks.migrate();
      await harness().transaction((tx) =>
        tasks.enqueueMany(tx, [
          ...Array.from({ length: 5 }, () => ({
            method: Mail.send,
            args: { to: 'm' },
            options: { queue: 'mail' },
          })),
          ...Array.from({ length: 3 }, () => ({ method: Mail.send, args: { to: 'd' } })),
        ]),
      );
      const result = await tasks.runDue({ limit: 100 });
      // runDue claims each queue once per pass: two of mail (its limit), all three of default.
      expect(result.succeeded).toBe(5);
      expect(await tasks.list({ status: 'pending', limit: 10 })).toHaveLength(3);
    });
  });
}

describe('flow control options', () => {
  const harness = useHarness(fixtures[0]!);
  const make = (queues: unknown) => () =>
    newTasks(harness(), { targets: [Mail], queues: queues as never });

  it('refuses bad limits with a ConfigError that names the option', () => {
    for (const [queues, message] of [
      [{ mail: { concurrency: -1 } }, /queues\.mail\.concurrency must be a whole number/],
      [{ mail: { concurrency: 1.5 } }, /queues\.mail\.concurrency/],
      [{ mail: { keyConcurrency: 0 } }, /queues\.mail\.keyConcurrency/],
      [{ mail: { fairness: 'round-robin' } }, /fairness must be 'key'/],
      [{ 'bad queue!': { concurrency: 1 } }, /queue "bad queue!" is not valid/],
      [{ mail: { concurency: 1 } }, /unknown option\(s\) concurency/],
      [[], /queues must be an object/],
      // PostgreSQL compared these as integer: accepted, then every claim failed.
      [
        { mail: { concurrency: 2 ** 31 } },
        /concurrency must be a whole number from 1 to 2147483647/,
      ],
      [{ mail: { keyConcurrency: Number.MAX_SAFE_INTEGER } }, /keyConcurrency must be a whole/],
      [{ mail: { rateLimit: { limit: 2 ** 31, periodMs: 1000 } } }, /rateLimit\.limit must be/],
      // A Map's entries are not properties: it configured no limit, silently.
      [new Map([['mail', { concurrency: 1 }]]), /Object\.fromEntries\(map\)/],
    ] as const) {
      expect(make(queues)).toThrow(ConfigError);
      expect(make(queues)).toThrow(message);
    }
    expect(make({ mail: { concurrency: 2 ** 31 - 1, keyConcurrency: 2 ** 31 - 1 } })).not.toThrow();
  });

  it('refuses a concurrencyKey that is empty, too long, or for a queue without limits', async () => {
    const tasks = newTasks(harness(), { targets: [Mail], queues: { mail: {} } });
    await tasks.migrate();
    await harness().transaction((tx) => {
      for (const [options, message] of [
        [{ queue: 'mail', concurrencyKey: '' }, /concurrencyKey must be a string of 1-255/],
        [{ queue: 'mail', concurrencyKey: 'k'.repeat(256) }, /1-255/],
        [{ concurrencyKey: 'k' }, /queue 'default' has no limits/],
      ] as const) {
        expect(() => tasks.enqueue(tx, Mail.send, { to: 'x' }, options)).toThrow(message);
      }
      return Promise.resolve();
    });
  });
});
