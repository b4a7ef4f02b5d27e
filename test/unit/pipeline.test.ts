// The claim → run → complete pipeline as runDue drives it, watched at the executor: what each
// claim asks for, and what a pass does with a row it has already run.
import { afterEach, describe, expect, it } from 'vitest';
import { betterSqlite3Driver } from '../../src/drivers/better-sqlite3.js';
import { AsyncTask, defineTarget } from '../../src/index.js';
import type {
  AttemptClaimParams,
  AttemptClaimResult,
  Executor,
  LeaseRef,
} from '../../src/seam/executor.js';
import { runPass } from '../../src/worker/pass.js';
import type { Runtime } from '../../src/worker/runtime.js';
import { Database, type TestDatabase } from '../harness/sqlite.js';

const ran: number[] = [];
const Shop = defineTarget('Shop', {
  ship(args: { n: number }) {
    ran.push(args.n);
  },
});
const Flaky = defineTarget(
  'Flaky',
  {
    async fail(args: { n: number }) {
      ran.push(args.n);
      await beforeFailing(args.n);
      throw new Error('not now');
    },
  },
  { backoff: () => 0 },
);

let beforeFailing: (n: number) => Promise<void> = () => Promise.resolve();
let db: TestDatabase | undefined;

afterEach(() => {
  db?.close();
  db = undefined;
  ran.length = 0;
  beforeFailing = () => Promise.resolve();
});

async function tasksWith(
  count: number,
  method: typeof Shop.ship | typeof Flaky.fail = Shop.ship,
): Promise<AsyncTask<TestDatabase>> {
  db = new Database(':memory:');
  const tasks = new AsyncTask({ driver: betterSqlite3Driver(db), targets: [Shop, Flaky] });
  await tasks.migrate();
  for (let n = 0; n < count; n += 1) await tasks.enqueue(db, method, { n });
  return tasks;
}

/** The runtime with its executor's claims and releases recorded, and claims open to change. */
function watched(
  runtime: Runtime,
  claimWith: (
    claim: number,
    params: AttemptClaimParams,
    next: (params: AttemptClaimParams) => Promise<AttemptClaimResult>,
  ) => Promise<AttemptClaimResult> = (_claim, params, next) => next(params),
): { runtime: Runtime; claims: AttemptClaimParams[]; released: LeaseRef[][] } {
  const claims: AttemptClaimParams[] = [];
  const released: LeaseRef[][] = [];
  const executor = (connection: Parameters<Runtime['executor']>[0]): Executor => {
    const inner = runtime.executor(connection);
    const claim = inner.attemptClaim.bind(inner);
    const release = inner.attemptReleaseMany.bind(inner);
    inner.attemptClaim = (params) => {
      claims.push(params);
      return claimWith(claims.length, params, claim);
    };
    inner.attemptReleaseMany = (lockedBy, leases) => {
      released.push([...leases]);
      return release(lockedBy, leases);
    };
    return inner;
  };
  return { runtime: { ...runtime, executor }, claims, released };
}

describe('a pass (runDue) over the pipeline', () => {
  it('claims in chunks of at least half the slots, each bounded by the room left under limit', async () => {
    const tasks = await tasksWith(7);
    const { runtime, claims } = watched(tasks.runtime);

    const result = await runPass(runtime, { concurrency: 4, limit: 6 }, 'pass-1');

    expect(result).toMatchObject({ claimed: 6, succeeded: 6, retried: 0, failed: 0, lost: 0 });
    expect(ran).toHaveLength(6);
    for (const claim of claims) {
      expect(claim.limit).toBeGreaterThanOrEqual(2);
      expect(claim.limit).toBeLessThanOrEqual(4);
    }
    expect(claims.reduce((sum, claim) => sum + claim.limit, 0)).toBe(6);
  });

  it("bounds every claim after the first by the database's clock at the first", async () => {
    const tasks = await tasksWith(3);
    const { runtime, claims } = watched(tasks.runtime);

    await runPass(runtime, { concurrency: 1 }, 'pass-2');

    expect(claims.length).toBeGreaterThan(1);
    expect(claims[0]!.horizon).toBeNull();
    const horizon = claims[1]!.horizon;
    expect(horizon).toBeInstanceOf(Date);
    for (const claim of claims.slice(1)) expect(claim.horizon).toEqual(horizon);
  });

  it('hands back, uncounted, a row it has already run, and claims no more', async () => {
    const tasks = await tasksWith(3, Flaky.fail);
    const base = tasks.runtime;
    let firstWritten = (): void => {};
    const written = new Promise<void>((resolve) => (firstWritten = resolve));
    // The other tasks fail once the first one's failure is written: that one is then pending and
    // due again, and the second claim, made as they end, plays SQLite's millisecond clock putting
    // that retry on the horizon by ignoring the horizon.
    beforeFailing = (n) => (n === 0 ? Promise.resolve() : written);
    const { runtime, released } = watched(
      {
        ...base,
        executor: (connection) => {
          const inner = base.executor(connection);
          const complete = inner.attemptCompleteMany.bind(inner);
          inner.attemptCompleteMany = async (lockedBy, completions) => {
            const ids = await complete(lockedBy, completions);
            firstWritten();
            return ids;
          };
          return inner;
        },
      },
      (claim, params, next) => next(claim === 1 ? params : { ...params, horizon: null }),
    );

    const result = await runPass(runtime, { concurrency: 3 }, 'pass-3');

    const first = (await tasks.list()).find((attempt) => (attempt.args as { n: number }).n === 0);
    expect(released).toEqual([[expect.objectContaining({ id: first?.id, numAttempts: 2 })]]);
    expect(result).toMatchObject({ claimed: 3, retried: 3, lost: 0 });
    expect(ran).toEqual([0, 1, 2]);
  });
});
