// A worker's claims when some queues have flow control (FlowClaimer): once the unlimited queues
// came up empty, their claim (which walks every queue's due rows, stepping over the limited
// ones') waits 100 ms unless an enqueue into one of them is heard of; runDue passes never skip
// it. The claims are counted at the executor, on a real database.
import { describe, expect, it } from 'vitest';
import type { QueueFlow } from '../../src/core/flow.js';
import type { AttemptClaimParams, Executor } from '../../src/seam/executor.js';
import { FlowClaimer } from '../../src/worker/flow-claim.js';
import { executorHarness } from '../harness/executor-harness.js';
import { sqliteFixture } from '../harness/sqlite.js';
import { useHarness } from '../harness/use-harness.js';

const limited: QueueFlow = {
  queue: 'limited',
  concurrency: 2,
  keyConcurrency: 1,
  fair: false,
  rateLimit: null,
};

describe(`flow claimer: ${sqliteFixture.label}`, () => {
  const harness = useHarness(sqliteFixture);

  it('leaves the empty unlimited queues’ claim out for 100 ms, unless an enqueue into one is heard of', async () => {
    const x = await executorHarness(harness(), sqliteFixture.dialect);
    await x.insert(Array.from({ length: 50 }, () => ({ queue: 'limited' })));
    let openClaims = 0;
    const counting = (executor: Executor): Executor =>
      new Proxy(executor, {
        get(target, property) {
          if (property === 'attemptClaim') {
            return (params: AttemptClaimParams) => {
              openClaims += 1;
              return target.attemptClaim(params);
            };
          }
          const value: unknown = Reflect.get(target, property, target);
          return typeof value === 'function' ? (value.bind(target) as unknown) : value;
        },
      });
    const claimer = new FlowClaimer(new Map([['limited', limited]]), {
      lockedBy: 'w1',
      leaseMs: 60_000,
      durable: false,
      traceContext: false,
    });
    const claim = (mayWait: boolean) =>
      x.run((e) => claimer.claim(counting(e), { limit: 10, queues: null, horizon: null }, mayWait));

    // Two of the limited queue (its limit), then nothing in the others: quiet from here.
    expect((await claim(true)).records).toHaveLength(2);
    expect(openClaims).toBe(1);
    for (let i = 0; i < 3; i += 1) await claim(true);
    expect(openClaims).toBe(1);
    // A runDue pass claims everything due, quiet or not.
    await claim(false);
    expect(openClaims).toBe(2);
    // An enqueue into a limited queue changes nothing; into another (or any: ''), it claims.
    claimer.enqueued('limited');
    await claim(true);
    expect(openClaims).toBe(2);
    const [open] = await x.insert([{ queue: 'default' }]);
    claimer.enqueued('default');
    const woken = await claim(true);
    expect(openClaims).toBe(3);
    expect(woken.records.map((r) => r.id)).toEqual([open!.id]);
    // After the quiet period it looks again by itself.
    await claim(true);
    expect(openClaims).toBe(3);
    await new Promise((resolve) => setTimeout(resolve, FlowClaimer.quietMs + 20));
    await claim(true);
    expect(openClaims).toBe(4);
  });
});
