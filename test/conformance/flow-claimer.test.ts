// A worker's claims when some queues have flow control (FlowClaimer): once the unlimited queues
// came up empty, their claim (which walks every queue's due rows, stepping over the limited
// ones') waits 100 ms unless an enqueue into one of them is heard of; runDue passes never skip
// it. The claims are counted at the executor, on a real database.
import { describe, expect, it } from 'vitest';
import type { QueueFlow } from '../../src/core/flow.js';
import type { Executor } from '../../src/seam/executor.js';
import { FlowClaimer } from '../../src/worker/flow-claim.js';
import { claimParams, executorHarness, type ExecutorHarness } from '../harness/executor-harness.js';
import { mysqlFixture } from '../harness/mysql.js';
import { postgresFixture } from '../harness/postgres.js';
import { sqliteFixture } from '../harness/sqlite.js';
import { useHarness } from '../harness/use-harness.js';

/** Queue `queue`'s flow: one run per key and nothing else, unless overridden. */
const flowOf = (queue: string, overrides: Partial<QueueFlow> = {}): QueueFlow => ({
  queue,
  concurrency: null,
  keyConcurrency: 1,
  fair: false,
  rateLimit: null,
  ...overrides,
});

const limited = flowOf('limited', { concurrency: 2 });

/** A worker's claimer (as worker w1) of queues with these flows. */
const claimerOf = (...flows: QueueFlow[]): FlowClaimer =>
  new FlowClaimer(new Map(flows.map((flow) => [flow.queue, flow])), {
    lockedBy: 'w1',
    leaseMs: 60_000,
    durable: false,
    traceContext: false,
  });

type Spied = 'attemptClaim' | 'attemptClaimLimited' | 'flowRateWindow';

/** `executor`, whose `method` first awaits `before(argument)`, then runs as it would. */
function spied<M extends Spied>(
  executor: Executor,
  method: M,
  before: (argument: Parameters<Executor[M]>[0]) => void | Promise<void>,
): Executor {
  return new Proxy(executor, {
    get(target, property) {
      if (property === method) {
        return async (argument: Parameters<Executor[M]>[0]) => {
          await before(argument);
          return (target[method] as (a: typeof argument) => unknown).call(target, argument);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value.bind(target) as unknown) : value;
    },
  });
}

describe(`flow claimer: ${sqliteFixture.label}`, () => {
  const harness = useHarness(sqliteFixture);

  it('leaves the empty unlimited queues’ claim out for a while, unless an enqueue into one is heard of', async () => {
    const x = await executorHarness(harness(), sqliteFixture.dialect);
    await x.insert(Array.from({ length: 50 }, () => ({ queue: 'limited' })));
    let openClaims = 0;
    const counting = (executor: Executor): Executor =>
      spied(executor, 'attemptClaim', () => {
        openClaims += 1;
      });
    const claimer = claimerOf(limited);
    const claim = (mayWait: boolean) =>
      x.run((e) =>
        claimer.claim(
          counting(e),
          { limit: 10, queues: null, horizon: null },
          mayWait ? 1000 : null,
        ),
      );

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
    // Past the longest quiet period, the poll interval (a claim slowed by a loaded machine is
    // left out ten times as long as it took: past 120 ms from 12 ms on).
    await new Promise((resolve) => setTimeout(resolve, 1000 + 20));
    await claim(true);
    expect(openClaims).toBe(4);
  });
});

describe(`flow claimer, a slow empty claim: ${sqliteFixture.label}`, () => {
  const harness = useHarness(sqliteFixture);

  it('leaves it out ten times as long as it took, never past the poll interval', async () => {
    const x = await executorHarness(harness(), sqliteFixture.dialect);
    await x.insert(Array.from({ length: 50 }, () => ({ queue: 'limited' })));
    let openClaims = 0;
    // The unlimited queues' claim takes at least 60 ms, as a walk over a large backlog does.
    const slow = (executor: Executor): Executor =>
      spied(executor, 'attemptClaim', async () => {
        openClaims += 1;
        await new Promise((resolve) => setTimeout(resolve, 60));
      });
    const claimer = claimerOf(limited);
    const claim = () =>
      x.run((e) => claimer.claim(slow(e), { limit: 10, queues: null, horizon: null }, 1000));
    const started = performance.now();
    await claim();
    expect(openClaims).toBe(1);
    // Past the least quiet period (100 ms), inside 10 x 60 ms: still left out.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await claim();
    // (Unless a loaded machine took 600 ms to get here.)
    if (performance.now() - started < 600) expect(openClaims).toBe(1);
    const before = openClaims;
    // Past the poll interval, the longest quiet period: claimed again.
    await new Promise((resolve) => setTimeout(resolve, 1000 - (performance.now() - started) + 20));
    await claim();
    expect(openClaims).toBe(before + 1);
  });
});

describe('flow claimer: quiet periods', () => {
  it('leave an empty claim out ten times as long as it took, from 100 ms up to the poll interval', () => {
    expect(FlowClaimer.quietFor(2, 1000)).toBe(100);
    expect(FlowClaimer.quietFor(70, 1000)).toBe(700);
    expect(FlowClaimer.quietFor(400, 1000)).toBe(1000);
    expect(FlowClaimer.quietFor(400, 5000)).toBe(4000);
    // A poll interval under 100 ms does not shorten the least quiet period.
    expect(FlowClaimer.quietFor(400, 20)).toBe(100);
  });
});

describe(`flow claimer, rate limits: ${sqliteFixture.label}`, () => {
  const harness = useHarness(sqliteFixture);
  const rated = (queue: string): QueueFlow =>
    flowOf(queue, { rateLimit: { limit: 2, periodMs: 60_000, perKey: false } });

  it('says how long a full window lasts, asking only of a queue it claimed from within it', async () => {
    const x = await executorHarness(harness(), sqliteFixture.dialect);
    await x.insert(Array.from({ length: 5 }, () => ({ queue: 'rated' })));
    const asked: string[] = [];
    const counting = (executor: Executor): Executor =>
      spied(executor, 'flowRateWindow', (flow) => {
        asked.push(flow.queue);
      });
    const claimer = claimerOf(rated('rated'), rated('idle'));
    const claim = (mayWait: boolean) =>
      x.run((e) =>
        claimer.claim(
          counting(e),
          { limit: 10, queues: null, horizon: null },
          mayWait ? 1000 : null,
        ),
      );

    // The window's two, and the queue came up short: full for about a minute from now.
    const first = await claim(true);
    expect(first.records).toHaveLength(2);
    expect(asked).toEqual(['rated']);
    expect(first.waitMs).toBeGreaterThan(55_000);
    expect(first.waitMs).toBeLessThanOrEqual(60_000);
    // Still full: left out, and the wait is what is left of it; never the idle queue. A runDue
    // pass claims it (a pass never waits) but does not ask.
    const second = await claim(true);
    expect(second.records).toEqual([]);
    expect(second.waitMs).toBeGreaterThan(50_000);
    expect(second.waitMs).toBeLessThanOrEqual(first.waitMs!);
    await claim(false);
    expect(asked).toEqual(['rated']);
  });

  it('claims again at once when the window freed between the claim and the question, once in a row', async () => {
    const x = await executorHarness(harness(), sqliteFixture.dialect);
    await x.insert(Array.from({ length: 3 }, () => ({ queue: 'rated' })));
    // A window long enough that the two claims fall in it on a loaded machine. Per key (the
    // attempts have none: they share one count), so that an enqueue heard of brings the queue
    // back while its window is full, and the claim races the window.
    const flow = { ...rated('rated'), rateLimit: { limit: 2, periodMs: 1000, perKey: true } };
    const claimer = claimerOf(flow);
    let askAfterMs = 0;
    const slowToAsk = (executor: Executor): Executor =>
      spied(
        executor,
        'flowRateWindow',
        () => new Promise((resolve) => setTimeout(resolve, askAfterMs)),
      );
    const claim = () =>
      x.run((e) => claimer.claim(slowToAsk(e), { limit: 10, queues: null, horizon: null }, 1000));
    const filled = await claim();
    expect(filled.records).toHaveLength(2);
    expect(filled.waitMs).toBeGreaterThan(500);
    // The claim finds the window full; by the time it asks, the window has room: at once (1 ms).
    claimer.enqueued('rated');
    askAfterMs = 1100;
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

// An idle limited queue's claim costs a worker on every claim it makes: on MySQL, which has no
// queue-leading index, it steps over the other queues' due rows; on PostgreSQL it takes the
// queue's lock and counts its running attempts (4 idle limited queues beside had cost an unlimited
// drain 12-16 %). A claim that saw nothing due says so (`exhausted`), and the worker leaves that
// queue out for a quiet period.
for (const fixture of [mysqlFixture, postgresFixture]) {
  describe(`flow claimer, idle limited queues: ${fixture.label}`, () => {
    const harness = useHarness(fixture);
    const keyed = (queue: string): QueueFlow => flowOf(queue);

    // A claim of more than 250 rows looks further than it counts, and a fair claim reads the whole
    // backlog uncounted: on MySQL both said "something due" of an idle queue, which was then never
    // left out (two walks of the backlog on every claim, per idle queue).
    for (const [label, flow, limit] of [
      ['a claim of 10', flowOf(''), 10],
      ['a claim of 1,000', flowOf(''), 1000],
      ['a fair claim', flowOf('', { fair: true }), 10],
    ] as const) {
      it(`says ${label} saw nothing due, and not when limits held its rows back`, async () => {
        const x = await executorHarness(harness(), fixture.dialect);
        await x.insert([
          { queue: 'busy', concurrencyKey: 'k' },
          { queue: 'busy', concurrencyKey: 'k' },
          { queue: 'other' },
        ]);
        const { queues: _queues, ...params } = claimParams('w1', { limit });
        const claim = (queue: string) =>
          x.run((e) => e.attemptClaimLimited({ ...params, flow: { ...flow, queue } }));
        expect((await claim('idle')).exhausted).toBe(true);
        const first = await claim('busy');
        expect(first.records).toHaveLength(1);
        expect(first.exhausted).toBe(false);
        // The other row of key k is due and held back by the key's limit: not exhausted.
        const held = await claim('busy');
        expect(held.records).toEqual([]);
        expect(held.exhausted).toBe(false);
      });
    }

    it('says a queue with attempts only for later has nothing due, and not one at its limit', async () => {
      const x = await executorHarness(harness(), fixture.dialect);
      const later = new Date(Date.now() + 3_600_000);
      await x.insert([
        { queue: 'later', scheduledAt: later },
        { queue: 'later', priority: -1, scheduledAt: later },
        { queue: 'full' },
        { queue: 'full' },
      ]);
      const { queues: _queues, ...params } = claimParams('w1', { limit: 10 });
      const claim = (flow: QueueFlow) => x.run((e) => e.attemptClaimLimited({ ...params, flow }));
      expect((await claim(keyed('later'))).exhausted).toBe(true);
      const full = { ...keyed('full'), concurrency: 1 };
      expect((await claim(full)).records).toHaveLength(1);
      const atLimit = await claim(full);
      expect(atLimit.records).toEqual([]);
      // Not left out: MySQL does not look at a queue without room; PostgreSQL finds one due.
      expect(atLimit.exhausted).not.toBe(true);
    });

    it('leaves a limited queue whose claim saw nothing due out for a while, unless an enqueue into it is heard of', async () => {
      const x = await executorHarness(harness(), fixture.dialect);
      await x.insert(Array.from({ length: 20 }, () => ({ queue: 'busy' })));
      const claimedQueues: string[] = [];
      const counting = (executor: Executor): Executor =>
        spied(executor, 'attemptClaimLimited', (limitedParams) => {
          claimedQueues.push(limitedParams.flow.queue);
        });
      const claimer = claimerOf({ ...keyed('busy'), concurrency: 2 }, keyed('idle'));
      const claim = (mayWait: boolean) =>
        x.run((e) =>
          claimer.claim(
            counting(e),
            { limit: 10, queues: null, horizon: null },
            mayWait ? 1000 : null,
          ),
        );
      const claimsOf = (queue: string) => claimedQueues.filter((q) => q === queue).length;

      // Two of the busy queue (its limit), nothing of the idle one: quiet from here.
      expect((await claim(true)).records).toHaveLength(2);
      expect(claimsOf('idle')).toBe(1);
      // The next claim, one claim's time later (well within the quiet period), leaves it out
      // (the busy one too, at its limit: see the test below).
      claimer.enqueued('busy');
      await claim(true);
      expect(claimsOf('busy')).toBe(2);
      expect(claimsOf('idle')).toBe(1);
      // A runDue pass claims every queue; an enqueue into the idle one heard of ends its quiet.
      await claim(false);
      expect(claimsOf('idle')).toBe(2);
      claimer.enqueued('idle');
      await claim(true);
      expect(claimsOf('idle')).toBe(3);
      await claim(true);
      expect(claimsOf('idle')).toBe(3);
      // Past the longest quiet period, the poll interval (a claim slowed by a loaded machine is
      // left out ten times as long as it took: past 120 ms from 12 ms on).
      await new Promise((resolve) => setTimeout(resolve, 1000 + 20));
      await claim(true);
      expect(claimsOf('idle')).toBe(4);
    });
  });
}

// A limited queue whose claim took fewer than it asked though attempts were due (at its limit,
// every key busy) is left out until an outcome of its runs here is written: before, each run's
// end claimed before its outcome was written and found the same limits (with ten keys, half the
// claims took nothing; on MySQL each read every due attempt of the queue).
/**
 * Claims of `limit` by `claimer` through `x` (a worker's, with a poll interval of a second, or a
 * runDue pass's), each limited claim's ask recorded at the executor after `before` ran. Each
 * limited claim takes at least 30 ms, so a queue it leaves out stays out for at least 300 ms: a
 * loaded machine's pauses between the test's steps stay well inside that.
 */
function countedClaims(
  x: ExecutorHarness,
  claimer: FlowClaimer,
  limit: number,
  before: (claims: number) => void = () => {},
) {
  const asked: number[] = [];
  const claim = (mayWait = true) =>
    x.run((e) =>
      claimer.claim(
        spied(e, 'attemptClaimLimited', async (limitedParams) => {
          asked.push(limitedParams.limit);
          before(asked.length);
          await new Promise((resolve) => setTimeout(resolve, 30));
        }),
        { limit, queues: null, horizon: null },
        mayWait ? 1000 : null,
      ),
    );
  return { asked, claim };
}

for (const fixture of [sqliteFixture, mysqlFixture, postgresFixture]) {
  describe(`flow claimer, queues at their limits: ${fixture.label}`, () => {
    const harness = useHarness(fixture);

    it('leaves one out until an outcome of its runs here is written, an enqueue into it is heard of, or the poll interval', async () => {
      const x = await executorHarness(harness(), fixture.dialect);
      await x.insert(Array.from({ length: 20 }, () => ({ queue: 'keyed', concurrencyKey: 'k' })));
      const claimer = claimerOf(flowOf('keyed'));
      const { asked, claim } = countedClaims(x, claimer, 10);

      // One of key k (its limit) where ten were asked: left out from here.
      expect((await claim()).records).toHaveLength(1);
      expect(asked).toHaveLength(1);
      await claim();
      expect(asked).toHaveLength(1);
      // Its run ends here as the completer's third outcome; writing the first two changes nothing.
      claimer.ended('keyed', 3);
      claimer.written(2);
      await claim();
      expect(asked).toHaveLength(1);
      claimer.written(3);
      // Claimed again (the row still runs in the database: nothing taken, left out again).
      expect((await claim()).records).toEqual([]);
      expect(asked).toHaveLength(2);
      await claim();
      expect(asked).toHaveLength(2);
      // Outcomes of unlimited queues are not counted; of two runs ended, each one's write claims.
      claimer.ended('default', 4);
      claimer.ended('keyed', 5);
      claimer.ended('keyed', 6);
      claimer.written(5);
      await claim();
      expect(asked).toHaveLength(3);
      claimer.written(6);
      await claim();
      expect(asked).toHaveLength(4);
      claimer.written(7);
      await claim();
      expect(asked).toHaveLength(4);
      // An enqueue into it heard of, and a runDue pass, claim it.
      claimer.enqueued('keyed');
      await claim();
      expect(asked).toHaveLength(5);
      await claim(false);
      expect(asked).toHaveLength(6);
      await claim();
      expect(asked).toHaveLength(6);
      // Past the longest quiet period, the poll interval (another worker's run may have ended).
      await new Promise((resolve) => setTimeout(resolve, 1000 + 20));
      await claim();
      expect(asked).toHaveLength(7);
    });

    it('asks a queue that came up short for twice what it took (at least 16), until a claim takes all it asked', async () => {
      const x = await executorHarness(harness(), fixture.dialect);
      await x.insert(Array.from({ length: 30 }, () => ({ queue: 'keyed', concurrencyKey: 'k' })));
      const claimer = claimerOf(flowOf('keyed'));
      const counted = countedClaims(x, claimer, 200);
      const { asked } = counted;
      const claim = async () => {
        claimer.enqueued('keyed');
        return (await counted.claim()).records.length;
      };
      // One key, one run at a time: 1 of 200, then nothing of 16.
      expect(await claim()).toBe(1);
      expect(await claim()).toBe(0);
      await x.insert(Array.from({ length: 40 }, () => ({ queue: 'keyed' })));
      // Rows without a key always fit: 16 of 16 lifts the cap; the rest, 24 of 200, sets it to 48.
      expect(await claim()).toBe(16);
      expect(await claim()).toBe(24);
      expect(await claim()).toBe(0);
      expect(asked).toEqual([200, 16, 16, 200, 48]);
    });

    it('does not leave a queue out when an outcome of its runs was written during the claim', async () => {
      const x = await executorHarness(harness(), fixture.dialect);
      await x.insert(Array.from({ length: 5 }, () => ({ queue: 'keyed', concurrencyKey: 'k' })));
      const claimer = claimerOf(flowOf('keyed'));
      claimer.ended('keyed', 1);
      // The outcome lands while the second claim runs (after its read: it may have freed the key).
      const { asked, claim } = countedClaims(x, claimer, 10, (claims) => {
        if (claims === 2) claimer.written(1);
      });
      expect((await claim()).records).toHaveLength(1);
      claimer.enqueued('keyed');
      await claim();
      expect(asked).toHaveLength(2);
      await claim();
      expect(asked).toHaveLength(3);
      await claim();
      expect(asked).toHaveLength(3);
    });

    // Each start leaves a sliding window on its own: a worker that claimed whenever a run of the
    // queue ended, or an outcome was written, took the one or two starts freed since, every time.
    it('leaves a rate-limited queue with a full window out until it has room, whatever ends', async () => {
      const x = await executorHarness(harness(), fixture.dialect);
      await x.insert(Array.from({ length: 5 }, () => ({ queue: 'rated' })));
      const claimer = claimerOf(
        flowOf('rated', { rateLimit: { limit: 2, periodMs: 60_000, perKey: false } }),
      );
      const { asked, claim } = countedClaims(x, claimer, 10);
      const first = await claim();
      expect(first.records).toHaveLength(2);
      expect(first.waitMs).toBeGreaterThan(50_000);
      // Its runs end and their outcomes are written: nothing frees in the window.
      claimer.ended('rated', 1);
      claimer.ended('rated', 2);
      claimer.written(2);
      const full = await claim();
      expect(full.records).toEqual([]);
      expect(full.waitMs).toBeGreaterThan(50_000);
      expect(asked).toHaveLength(1);
      // An enqueue heard of does not free a window shared by the whole queue either.
      claimer.enqueued('rated');
      await claim();
      expect(asked).toHaveLength(1);
    });

    // A rate-limited queue whose claim came up short at its other limits (every key busy), its
    // window not full, was claimed again whenever a run ended, half the claims taking nothing:
    // five keys of one run each drained at 600/s with PostgreSQL's core busy.
    it('leaves a rate-limited queue short at its keys out until an outcome of its runs is written', async () => {
      const x = await executorHarness(harness(), fixture.dialect);
      await x.insert([
        { queue: 'rated', concurrencyKey: 'k' },
        { queue: 'rated', concurrencyKey: 'k' },
      ]);
      const claimer = claimerOf(
        flowOf('rated', { rateLimit: { limit: 1000, periodMs: 60_000, perKey: true } }),
      );
      const { asked, claim } = countedClaims(x, claimer, 10);
      const first = await claim();
      expect(first.records).toHaveLength(1);
      expect(first.waitMs).toBeUndefined();
      await claim();
      expect(asked).toHaveLength(1);
      claimer.ended('rated', 1);
      claimer.written(1);
      await claim();
      expect(asked).toHaveLength(2);
    });
  });
}
