// pollOnly: the worker finds work by polling alone (no LISTEN, no wake from this process), and a
// scheduled task starts within one poll interval after it is due, never before. Without pollOnly,
// a task this process enqueued starts soon after its transaction commits.
import { describe, expect, it } from 'vitest';
import { AsyncTask, type Driver } from '../../src/index.js';
import { fixtures, itOnNativeDrivers } from '../harness/dialects.js';
import type { Harness } from '../harness/fixture.js';
import { migratedTasks, newTasks } from '../harness/new-tasks.js';
import { recorderTarget } from '../harness/recorder-target.js';
import { useHarness } from '../harness/use-harness.js';
import { useWorkers } from '../harness/use-workers.js';
import { waitFor } from '../harness/wait-for.js';

/** The harness's driver, counting calls to `listen` (which pollOnly must never make). */
function countingListens(harness: Harness): { driver: Driver<unknown, unknown>; listens: number } {
  const inner = harness.driver;
  const counted = { driver: inner, listens: 0 };
  if (inner.listen) {
    const listen = inner.listen.bind(inner);
    counted.driver = Object.assign(Object.create(inner) as Driver<unknown, unknown>, {
      listen: (...args: Parameters<typeof listen>) => {
        counted.listens += 1;
        return listen(...args);
      },
    });
  }
  return counted;
}

/** Slack for a claim and a dispatch on a loaded 2-core machine, on top of one poll interval. */
const graceMs = 300;

for (const fixture of fixtures) {
  describe(fixture.label, () => {
    const harness = useHarness(fixture);
    const track = useWorkers();

    it('pollOnly: true drains everything, with no LISTEN and no wake from the enqueuer', async () => {
      const ran = new Map<string, number>();
      const target = recorderTarget((id) => ran.set(id, (ran.get(id) ?? 0) + 1));
      const counted = countingListens(harness());
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const polling = new AsyncTask({
        driver: counted.driver,
        table: harness().table,
        targets: [target],
      });
      // Enqueued through another AsyncTask (as another process would): nothing wakes the worker.
      const worker = track(polling.worker({ pollOnly: true, pollIntervalMs: 100, concurrency: 8 }));
      await worker.start();
      const count = 300;
      const enqueued = await harness().transaction((tx) =>
        tasks.enqueueMany(
          tx,
          Array.from({ length: count }, (_, n) => ({ method: target.record, args: { n } })),
        ),
      );

      await waitFor(`all ${count} tasks to run`, () => ran.size === count, 30_000);
      await worker.stop();

      expect(counted.listens).toBe(0);
      expect([...ran.values()].every((runs) => runs === 1)).toBe(true);
      expect([...ran.keys()].sort()).toEqual(enqueued.map((attempt) => attempt.id).sort());
      expect(await tasks.list({ status: 'pending', limit: 5 })).toEqual([]);
      expect(await tasks.list({ status: 'running', limit: 5 })).toEqual([]);
    });

    it('a task enqueued here in a transaction that commits 300 ms after its INSERT starts soon after the commit, not a poll interval later', async () => {
      const startedAt = new Map<string, number>();
      const target = recorderTarget((id) => startedAt.set(id, Date.now()));
      const tasks = await migratedTasks(harness(), { targets: [target] });
      // The same AsyncTask enqueues: without LISTEN, its enqueue wakes the worker before the
      // commit, and the claim that wake starts finds nothing.
      const worker = track(tasks.worker({ pollIntervalMs: 60_000 }));
      await worker.start();
      const attempt = await harness().transaction(async (tx) => {
        const enqueued = await tasks.enqueue(tx, target.record, { n: 1 });
        await new Promise((resolve) => setTimeout(resolve, 300));
        return enqueued;
      });
      const committedAt = Date.now();

      await waitFor('the task to start', () => startedAt.has(attempt.id), 10_000);
      await worker.stop();
      const lateness = startedAt.get(attempt.id)! - committedAt;
      expect(lateness, `started ${lateness} ms after the commit`).toBeLessThan(1000);
    });

    itOnNativeDrivers(
      fixture,
      'the poll timing under test is the worker’s; each driver’s claims run in executor-claim.test.ts',
    )(
      'pollOnly: scheduled tasks start within one poll interval after they are due, not before',
      async () => {
        const pollIntervalMs = 300;
        const startedAt = new Map<string, number>();
        const target = recorderTarget((id) => startedAt.set(id, Date.now()));
        const tasks = await migratedTasks(harness(), { targets: [target] });
        const worker = track(
          newTasks(harness(), { targets: [target] }).worker({
            pollOnly: true,
            pollIntervalMs,
          }),
        );
        await worker.start();
        const dueAt = new Date(Date.now() + 1500);
        const attempts = await harness().transaction((tx) =>
          tasks.enqueueMany(
            tx,
            [1, 2, 3].map((n) => ({
              method: target.record,
              args: { n },
              options: { scheduledAt: dueAt },
            })),
          ),
        );

        await waitFor('the scheduled tasks to start', () => startedAt.size === 3, 10_000);
        await worker.stop();

        const latenesses = attempts.map(({ id }) => startedAt.get(id)! - dueAt.getTime());
        console.info(
          `${fixture.label}: scheduled tasks started ${latenesses.join(', ')} ms after due`,
        );
        for (const { id } of attempts) {
          const lateness = startedAt.get(id)! - dueAt.getTime();
          // -2: the database may round its clock to the millisecond where JavaScript truncates.
          expect(
            lateness,
            `task ${id} started ${lateness} ms after it was due`,
          ).toBeGreaterThanOrEqual(-2);
          expect(
            lateness,
            `task ${id} started ${lateness} ms after it was due`,
          ).toBeLessThanOrEqual(pollIntervalMs + graceMs);
        }
      },
    );
  });
}
