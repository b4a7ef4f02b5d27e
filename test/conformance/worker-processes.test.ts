// The worker across processes: several worker processes drain a backlog with each task run once,
// and kill -9 of a worker mid-drain loses nothing and reruns only what that process had in flight.
import { describe, expect } from 'vitest';
import type { AsyncTask, WorkerOptions } from '../../src/index.js';
import { fixtures, itOnNativeDrivers } from '../harness/dialects.js';
import { itRequires } from '../harness/it-requires.js';
import type { DialectFixture, Harness } from '../harness/fixture.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { useHarness } from '../harness/use-harness.js';
import { workerChildTarget } from '../harness/worker-child-target.js';
import { key, useFleets, type Run, type WorkerFleet } from '../harness/worker-process.js';

type Dialect = DialectFixture['dialect'];

/**
 * Backlog for four processes, sized so that one run stays well under a minute on a shared 2-core
 * machine: each task commits its own transaction, and PostgreSQL's drain of 20,000 took 60–95 s
 * from run to run there, too close to any bound. Scale is the benchmark's and the scale tests'.
 * ASYNC_TASK_TEST_DRAIN_TASKS overrides it for every dialect (the wait then scales).
 */
// SQLite's drain of 3,000 ended in about 1.5 s under CI's load, once before the fourth process
// got the write lock for a claim (SQLite queues no waiters: a process retries in its busy handler
// while the others keep taking the lock): 6,000 give each process more turns at it.
const drainTasks: Record<Dialect, number> = { postgres: 10_000, mysql: 5_000, sqlite: 6_000 };
const drainOverride = Number(process.env['ASYNC_TASK_TEST_DRAIN_TASKS']);
/** Backlog for the kill -9 test: long enough for three kills and their recoveries. */
const killTasks: Record<Dialect, number> = { postgres: 4_000, mysql: 3_000, sqlite: 2_000 };

const lease = { leaseMs: 2000, heartbeatMs: 500, rescueIntervalMs: 500 };
/** Scheduling slack on a loaded 2-core machine, on top of lease + one rescue interval. */
const recoveryGraceMs = 1500;

const target = workerChildTarget();
/** Worker processes start with these unless a test says otherwise. */
const fleetDefaults: WorkerOptions = { concurrency: 8, pollIntervalMs: 200 };

async function enqueueSideTasks(
  harness: Harness,
  tasks: AsyncTask<unknown, unknown>,
  count: number,
): Promise<void> {
  for (let from = 0; from < count; from += 1000) {
    const size = Math.min(1000, count - from);
    await harness.transaction((tx) =>
      tasks.enqueueMany(
        tx,
        Array.from({ length: size }, (_, i) => ({
          method: target.side,
          args: { key: `k${from + i}` },
        })),
      ),
    );
  }
}

/**
 * Until every task is finished. The children's `done` lines say so cheaply; the database is the
 * fallback for a task whose commit landed just before its process was killed, unreported.
 */
async function waitForDrain(
  fleet: WorkerFleet,
  tasks: AsyncTask<unknown, unknown>,
  count: number,
  timeoutMs: number,
): Promise<void> {
  let checkedAt = Date.now();
  await fleet.waitFor(
    `all ${count} tasks to finish`,
    async () => {
      if (fleet.done.size >= count) return true;
      if (Date.now() - checkedAt < 500) return false;
      checkedAt = Date.now();
      const open = await Promise.all([
        tasks.list({ status: 'pending', limit: 1 }),
        tasks.list({ status: 'running', limit: 1 }),
      ]);
      return open.every((list) => list.length === 0);
    },
    timeoutMs,
  );
}

/** Every task succeeded, and the side table holds each key exactly once. */
async function expectAllSucceeded(
  harness: Harness,
  tasks: AsyncTask<unknown, unknown>,
  count: number,
): Promise<void> {
  expect(await harness.countAttempts()).toBe(count);
  for (const status of ['pending', 'running', 'failed', 'expired'] as const) {
    expect(await tasks.list({ status, limit: 5 }), `${status} attempts`).toEqual([]);
  }
  const keys = await harness.sideKeys();
  expect(keys).toHaveLength(count);
  expect(new Set(keys).size).toBe(count);
}

for (const fixture of fixtures) {
  describe(fixture.label, () => {
    const harness = useHarness(fixture);
    const newFleet = useFleets();
    const itMultiProcess = itRequires(fixture, 'multiProcessWorkers');

    const drainCount =
      Number.isInteger(drainOverride) && drainOverride > 0
        ? drainOverride
        : drainTasks[fixture.dialect];
    const drainWaitMs = Math.max(60_000, drainCount * 8);
    itMultiProcess(
      `four worker processes drain ${drainCount} tasks, each run exactly once`,
      async () => {
        await harness().createSideTable();
        const tasks = await migratedTasks(harness(), { targets: [target] });
        const started = Date.now();
        const fleet = newFleet(harness().childEnv(), fleetDefaults);
        // A fixed, small prefetch: with the adaptive one, a process holds ~200 ms of work, and on
        // a fast machine (SQLite, no notifications, 200 ms polls) the first two or three could
        // hold the whole backlog before the last one's first poll (a split of 0/0/1569/1431),
        // which says nothing about sharing. Each process holds at most 16 here.
        const workers = [1, 2, 3, 4].map((n) => fleet.start(`drain-${n}`, { prefetch: 8 }));
        await Promise.all(workers.map((worker) => worker.ready));
        await enqueueSideTasks(harness(), tasks, drainCount);

        await waitForDrain(fleet, tasks, drainCount, drainWaitMs);
        await fleet.stopAll();
        const elapsed = Date.now() - started;

        await expectAllSucceeded(harness(), tasks, drainCount);
        const starts = new Map<string, number>();
        for (const worker of workers) {
          for (const run of worker.starts) starts.set(run.id, (starts.get(run.id) ?? 0) + 1);
        }
        const twice = [...starts].filter(([, count]) => count > 1).map(([id]) => id);
        expect(twice, 'ids started more than once').toEqual([]);
        expect(starts.size).toBe(drainCount);
        const split = workers.map((worker) => worker.starts.length);
        expect(
          split.every((count) => count > 0),
          `work split ${split.join('/')}`,
        ).toBe(true);
        expect(workers.flatMap((worker) => worker.errors)).toEqual([]);
        console.info(
          `${fixture.label}: ${drainCount} tasks, 4 processes, ${elapsed} ms, split ${split.join('/')}`,
        );
      },
      drainWaitMs + 15_000,
    );

    // The worker's adaptive prefetch holds about 200 ms of work at the rate its handlers finish:
    // a worker of 50 ms handlers must not hoard the backlog from a second one. One driver per
    // dialect: the sizing is the worker's, not the driver's.
    const itBaseDriver = itOnNativeDrivers(
      fixture,
      "the prefetch sizing under test is the worker's, above the driver",
      'multiProcessWorkers',
    );
    itBaseDriver(
      'a second worker process started mid-drain of 50 ms tasks gets a fair share within a second',
      async () => {
        const tasks = await migratedTasks(harness(), { targets: [target] });
        // 12 s of work for one worker: on a loaded machine the second one's start-up (a process,
        // its imports, its connections) took 3 s, and 800 tasks were all run by then.
        const count = 2400;
        for (let from = 0; from < count; from += 400) {
          await harness().transaction((tx) =>
            tasks.enqueueMany(
              tx,
              Array.from({ length: 400 }, () => ({ method: target.slow, args: { ms: 50 } })),
            ),
          );
        }
        const fleet = newFleet(harness().childEnv(), { pollIntervalMs: 200 });
        const first = fleet.start('fair-1');
        await first.ready;
        await fleet.waitFor(
          'the first worker to be well into the backlog',
          () => first.starts.length >= 100,
          20_000,
        );
        const second = fleet.start('fair-2');
        await second.ready;
        // Its first claim finds work at once: the first worker left the backlog pending.
        await fleet.waitFor(
          'the second worker to start a task',
          () => second.starts.length > 0,
          1000,
        );
        const fromFirst = first.starts.length;
        const fromSecond = second.starts.length;
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const firstShare = first.starts.length - fromFirst;
        const secondShare = second.starts.length - fromSecond;
        await fleet.stopAll();
        // Both run 10 at a time: in that second each starts about 150-200 tasks. A worker that
        // claimed the backlog ahead would leave the second nothing.
        expect(secondShare, `first ${firstShare}, second ${secondShare}`).toBeGreaterThan(
          0.5 * firstShare,
        );
        expect(firstShare + secondShare).toBeGreaterThan(100);
      },
      60_000,
    );

    const killCount = killTasks[fixture.dialect];
    itMultiProcess(
      `kill -9 of a worker, three times mid-drain of ${killCount} tasks: nothing lost, only its in-flight tasks rerun, recovered within lease + one rescue interval`,
      async () => {
        await harness().createSideTable();
        const tasks = await migratedTasks(harness(), { targets: [target] });
        const fleet = newFleet(harness().childEnv(), { ...fleetDefaults, ...lease });
        await Promise.all([1, 2, 3].map((n) => fleet.start(`kill-${n}`).ready));
        await enqueueSideTasks(harness(), tasks, killCount);

        const recoveries: number[] = [];
        for (const [round, fraction] of [0.15, 0.4, 0.65].entries()) {
          await fleet.waitFor(
            `${fraction * 100}% of the tasks to be done`,
            () => fleet.done.size >= fraction * killCount,
            40_000,
          );
          const victim = fleet
            .alive()
            .reduce((a, b) => (b.inFlight().length > a.inFlight().length ? b : a));
          const killedAt = Date.now();
          const gone = fleet.kill(victim);
          fleet.start(`kill-replacement-${round + 1}`);
          await gone;
          const inFlight = victim.inFlight();

          // Recovered: each run the victim had in flight was handed back by a rescuer, or had
          // committed, unreported (the kill came while it waited for COMMIT's reply; most of a
          // run's time is spent there): then the database says it is no longer running.
          let lastCheck = 0;
          const open = (): Run[] =>
            inFlight.filter((run) => (fleet.rescuedAt.get(run.id) ?? 0) < killedAt);
          await fleet
            .waitFor(
              `the ${inFlight.length} tasks ${victim.label} had in flight to be rescued`,
              async () => {
                const left = open();
                if (left.length === 0) return true;
                if (Date.now() - lastCheck < 200) return false;
                lastCheck = Date.now();
                const rows = await Promise.all(left.map((run) => tasks.get(run.id)));
                return rows.every(
                  (row, i) => row?.status !== 'running' || row.numAttempts > left[i]!.numAttempts,
                );
              },
              20_000,
            )
            .catch(async (error: Error) => {
              const rows = await Promise.all(open().map((run) => tasks.get(run.id)));
              const states = rows.map(
                (row) => `${row?.id} ${row?.status} n=${row?.numAttempts} ${row?.lastError ?? ''}`,
              );
              throw new Error(`${error.message}; not rescued: ${states.join('; ')}`);
            });
          recoveries.push(Date.now() - killedAt);
        }

        await waitForDrain(fleet, tasks, killCount, 50_000);
        await fleet.stopAll();

        await expectAllSucceeded(harness(), tasks, killCount);
        const bound = lease.leaseMs + lease.rescueIntervalMs + recoveryGraceMs;
        console.info(`${fixture.label}: recoveries after kill -9 took ${recoveries.join(', ')} ms`);
        for (const ms of recoveries) {
          expect(ms, `recovery took ${recoveries.join('/')} ms`).toBeLessThanOrEqual(bound);
        }
        // Any id that ran more than once: every run but the last was in flight in a killed process.
        const killedInFlight = new Set(
          [...fleet.killed].flatMap((worker) => worker.inFlight()).map(key),
        );
        expect(killedInFlight.size, 'runs in flight at the kills').toBeGreaterThan(0);
        const runs = new Map<string, Run[]>();
        for (const run of fleet.all.flatMap((worker) => worker.starts)) {
          runs.set(run.id, [...(runs.get(run.id) ?? []), run]);
        }
        const unexplained: string[] = [];
        for (const [id, list] of runs) {
          if (list.length === 1) continue;
          const last = Math.max(...list.map((run) => run.numAttempts));
          if (new Set(list.map((run) => run.numAttempts)).size !== list.length) {
            unexplained.push(`${id}: two runs with the same attempt number`);
          }
          for (const run of list) {
            if (run.numAttempts !== last && !killedInFlight.has(key(run))) {
              unexplained.push(`${id}: run ${run.numAttempts} was not in flight at a kill`);
            }
          }
        }
        expect(unexplained, 'reruns not explained by a kill').toEqual([]);
        if (runs.size !== killCount) {
          // Seen once in CI (1966 of 2000 on SQLite, every task succeeded): say which ran unseen.
          const unseen = (await tasks.list({ limit: killCount }))
            .filter((attempt) => !runs.has(attempt.id))
            .slice(0, 10)
            .map((a) => `${a.id} ${a.status} n=${a.numAttempts} ${a.completedAt?.toISOString()}`);
          const kills = [...fleet.killed].map((worker) => worker.label).join(', ');
          expect(runs.size, `no start line for ${unseen.join('; ')} (killed: ${kills})`).toBe(
            killCount,
          );
        }
      },
    );
  });
}
