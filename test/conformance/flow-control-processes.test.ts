// Flow control under racing worker processes: the limits hold across processes (each run's
// handler interval lies within its attempt's `running` interval, so handlers overlapping more
// than the limit would prove the table held more running), and a busy key holds back no other.
// One native driver per dialect: the claim under test is the dialect's, and each test spawns
// three processes.
import { describe, expect } from 'vitest';
import type { AsyncTask } from '../../src/index.js';
import { fixtures, itOnNativeDrivers } from '../harness/dialects.js';
import type { Harness } from '../harness/fixture.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { useHarness } from '../harness/use-harness.js';
import { workerChildTarget } from '../harness/worker-child-target.js';
import { useFleets, type WorkerFleet } from '../harness/worker-process.js';

const target = workerChildTarget();

interface TimedRun {
  readonly id: string;
  readonly key: string;
  readonly from: number;
  readonly to: number;
}

/** Every `timed` run the fleet's processes reported. */
function timedRuns(fleet: WorkerFleet): TimedRun[] {
  return fleet.all.flatMap((worker) =>
    worker.lines
      .filter((line) => line.startsWith('timed '))
      .map((line) => {
        const [, id, key, from, to] = line.split(' ');
        return { id: id!, key: key!, from: Number(from), to: Number(to) };
      }),
  );
}

/** The most runs in progress at one instant (an end and a start at the same instant: not both). */
function peakOverlap(runs: readonly TimedRun[]): number {
  const events = runs.flatMap((run) => [
    { at: run.from, delta: 1 },
    { at: run.to, delta: -1 },
  ]);
  events.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let now = 0;
  let peak = 0;
  for (const event of events) {
    now += event.delta;
    peak = Math.max(peak, now);
  }
  return peak;
}

async function enqueueTimed(
  harness: Harness,
  tasks: AsyncTask<unknown, unknown>,
  runs: readonly { key: string; concurrencyKey?: string }[],
  queue: string,
): Promise<void> {
  for (let from = 0; from < runs.length; from += 500) {
    await harness.transaction((tx) =>
      tasks.enqueueMany(
        tx,
        runs.slice(from, from + 500).map((run) => ({
          method: target.timed,
          args: { ms: 50, key: run.key },
          options:
            run.concurrencyKey === undefined
              ? { queue }
              : { queue, concurrencyKey: run.concurrencyKey },
        })),
      ),
    );
  }
}

for (const fixture of fixtures) {
  describe(fixture.label, () => {
    const harness = useHarness(fixture);
    const newFleet = useFleets();
    const itNative = itOnNativeDrivers(
      fixture,
      "the limits are kept by the dialect's claim, below the driver, whose statements run through every driver in flow-control.test.ts",
      'multiProcessWorkers',
    );

    itNative(
      'global concurrency 5 over three worker processes of 50 ms handlers: never more than 5 run',
      async () => {
        const queues = { limited: { concurrency: 5 } };
        const tasks = await migratedTasks(harness(), { targets: [target], queues });
        const count = 40;
        const fleet = newFleet(
          { ...harness().childEnv(), ASYNC_TASK_WORKER_QUEUES: JSON.stringify(queues) },
          { concurrency: 8, pollIntervalMs: 100 },
        );
        // Started first, so that all three race for the first claims.
        await Promise.all([1, 2, 3].map((n) => fleet.start(`limit-${n}`).ready));
        await enqueueTimed(
          harness(),
          tasks,
          Array.from({ length: count }, (_, i) => ({ key: `t${i}` })),
          'limited',
        );
        await fleet.waitFor('every run to end', () => timedRuns(fleet).length >= count, 20_000);
        await fleet.stopAll();

        const runs = timedRuns(fleet);
        expect(new Set(runs.map((run) => run.id)).size).toBe(count);
        // Three processes of eight slots each would run up to 24 at once without the limit; the
        // limit is also used, not merely respected.
        expect(peakOverlap(runs)).toBe(5);
      },
      40_000,
    );

    itNative(
      "per-key limit 1 over 20 keys: each key runs one at a time, and a key's 1,000-task backlog holds back no other",
      async () => {
        const queues = { keyed: { keyConcurrency: 1 } };
        const tasks = await migratedTasks(harness(), { targets: [target], queues });
        // The hot key's backlog first: in due order, every other key is behind it.
        await enqueueTimed(
          harness(),
          tasks,
          Array.from({ length: 1000 }, () => ({ key: 'hot', concurrencyKey: 'hot' })),
          'keyed',
        );
        const perKey = 5;
        const others = Array.from({ length: 19 }, (_, k) => `key${k}`);
        await enqueueTimed(
          harness(),
          tasks,
          others.flatMap((key) =>
            Array.from({ length: perKey }, () => ({ key, concurrencyKey: key })),
          ),
          'keyed',
        );
        const fleet = newFleet(
          { ...harness().childEnv(), ASYNC_TASK_WORKER_QUEUES: JSON.stringify(queues) },
          { concurrency: 8, pollIntervalMs: 100 },
        );
        await Promise.all([1, 2, 3].map((n) => fleet.start(`key-${n}`).ready));
        const othersDone = (): number => timedRuns(fleet).filter((run) => run.key !== 'hot').length;
        // Each key runs its 5 tasks one after another (50 ms each, plus a claim and a completion
        // write between them); behind the hot key's backlog they would wait 1,000 runs.
        await fleet.waitFor(
          "the other keys' tasks to finish",
          () => othersDone() >= others.length * perKey,
          15_000,
        );
        await fleet.stopAll();

        const runs = timedRuns(fleet);
        for (const key of ['hot', ...others]) {
          expect(peakOverlap(runs.filter((run) => run.key === key)), `key ${key}`).toBe(1);
        }
        // From the first run to the last of the other keys: five 50 ms runs in a row per key,
        // with a completion write and a claim between them (about 1.5 s on a busy 2-core
        // machine). Behind the hot key's backlog it would be 1,000 runs of 50 ms, one at a time.
        const firstStart = Math.min(...runs.map((run) => run.from));
        const othersEnd = Math.max(...runs.filter((run) => run.key !== 'hot').map((run) => run.to));
        expect(othersEnd - firstStart).toBeLessThan(6000);
        // The hot key ran meanwhile, one at a time like any other key.
        expect(runs.some((run) => run.key === 'hot' && run.to < othersEnd)).toBe(true);
      },
      40_000,
    );
  });
}
