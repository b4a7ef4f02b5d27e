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

describe(`flow claimer, rate limits: ${sqliteFixture.label}`, () => {
  const harness = useHarness(sqliteFixture);
  const rated = (queue: string): QueueFlow => ({
    queue,
    concurrency: null,
    keyConcurrency: 1,
    fair: false,
    rateLimit: { limit: 2, periodMs: 60_000, perKey: false },
  });

  it('says how long a full window lasts, asking only of a queue it claimed from within it', async () => {
    const x = await executorHarness(harness(), sqliteFixture.dialect);
    await x.insert(Array.from({ length: 5 }, () => ({ queue: 'rated' })));
    const asked: string[] = [];
    const counting = (executor: Executor): Executor =>
      new Proxy(executor, {
        get(target, property) {
          if (property === 'flowRateWindow') {
            return (flow: QueueFlow) => {
              asked.push(flow.queue);
              return target.flowRateWindow(flow);
            };
          }
          const value: unknown = Reflect.get(target, property, target);
          return typeof value === 'function' ? (value.bind(target) as unknown) : value;
        },
      });
    const claimer = new FlowClaimer(
      new Map([
        ['rated', rated('rated')],
        ['idle', rated('idle')],
      ]),
      { lockedBy: 'w1', leaseMs: 60_000, durable: false, traceContext: false },
    );
    const claim = (mayWait: boolean) =>
      x.run((e) => claimer.claim(counting(e), { limit: 10, queues: null, horizon: null }, mayWait));

    // The window's two, and the queue came up short: full for about a minute from now.
    const first = await claim(true);
    expect(first.records).toHaveLength(2);
    expect(asked).toEqual(['rated']);
    expect(first.waitMs).toBeGreaterThan(55_000);
    expect(first.waitMs).toBeLessThanOrEqual(60_000);
    // Still full: asked again, never of the idle queue; a runDue pass does not ask.
    const second = await claim(true);
    expect(second.records).toEqual([]);
    expect(second.waitMs).toBeLessThanOrEqual(first.waitMs!);
    await claim(false);
    expect(asked).toEqual(['rated', 'rated']);
  });

  it('claims again at once when the window freed between the claim and the question, once in a row', async () => {
    const x = await executorHarness(harness(), sqliteFixture.dialect);
    await x.insert(Array.from({ length: 3 }, () => ({ queue: 'rated' })));
    const flow = { ...rated('rated'), rateLimit: { limit: 2, periodMs: 300, perKey: false } };
    const claimer = new FlowClaimer(new Map([['rated', flow]]), {
      lockedBy: 'w1',
      leaseMs: 60_000,
      durable: false,
      traceContext: false,
    });
    let askAfterMs = 0;
    const slowToAsk = (executor: Executor): Executor =>
      new Proxy(executor, {
        get(target, property) {
          if (property === 'flowRateWindow') {
            return async (asked: QueueFlow) => {
              await new Promise((resolve) => setTimeout(resolve, askAfterMs));
              return target.flowRateWindow(asked);
            };
          }
          const value: unknown = Reflect.get(target, property, target);
          return typeof value === 'function' ? (value.bind(target) as unknown) : value;
        },
      });
    const claim = () =>
      x.run((e) => claimer.claim(slowToAsk(e), { limit: 10, queues: null, horizon: null }, true));
    const filled = await claim();
    expect(filled.records).toHaveLength(2);
    expect(filled.waitMs).toBeGreaterThan(200);
    // The claim finds the window full; by the time it asks, the window has room: at once (1 ms).
    askAfterMs = 350;
    const raced = await claim();
    expect(raced.records).toEqual([]);
    expect(raced.waitMs).toBe(1);
    // The next takes the last attempt and comes up short: the same freed window, not again.
    askAfterMs = 0;
    const last = await claim();
    expect(last.records).toHaveLength(1);
    expect(last.waitMs).toBeUndefined();
  });
});
