// Queues, per-queue caps and priorities in the long-running worker.
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect } from 'vitest';
import { defineTarget, type TaskContext } from '../../src/index.js';
import { coveredBy, fixtures, itOnNativeDrivers } from '../harness/dialects.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { useHarness } from '../harness/use-harness.js';
import { useWorkers } from '../harness/use-workers.js';
import { waitFor } from '../harness/wait-for.js';

interface Run {
  readonly id: string;
  readonly queue: string;
  readonly priority: number;
}

/** A target whose handler records each run, and how many of each queue run at once. */
function queueTarget(workMs: number) {
  const runs: Run[] = [];
  const running = new Map<string, number>();
  const most = new Map<string, number>();
  let total = 0;
  let mostTotal = 0;
  const target = defineTarget('Queued', {
    async work(_args: { n: number }, ctx: TaskContext) {
      const { id, queue, priority } = ctx.attempt;
      runs.push({ id, queue, priority });
      running.set(queue, (running.get(queue) ?? 0) + 1);
      most.set(queue, Math.max(most.get(queue) ?? 0, running.get(queue)!));
      total += 1;
      mostTotal = Math.max(mostTotal, total);
      // A little work, so that handlers overlap.
      if (workMs > 0) await delay(workMs);
      running.set(queue, running.get(queue)! - 1);
      total -= 1;
    },
  });
  return { target, runs, most, mostTotal: () => mostTotal };
}

for (const fixture of fixtures) {
  describe(fixture.label, () => {
    const harness = useHarness(fixture);
    const track = useWorkers();
    const aboveDriver = itOnNativeDrivers(
      fixture,
      `the queues and caps under test are the worker's and the dialect's claim; each driver runs the claim's statements in ${coveredBy('conformance/executor-claim-queues.test.ts', 'attemptClaim of 3, 5, 9 and 17 queues')} and ${coveredBy('conformance/executor-claim.test.ts', 'attemptClaim keeps to its queues and its horizon')}`,
    );

    aboveDriver(
      "a worker with queues: ['a'] never runs queue b, even when b comes first by priority",
      async () => {
        const { target, runs } = queueTarget(0);
        const tasks = await migratedTasks(harness(), { targets: [target] });
        const enqueued = await harness().transaction((tx) =>
          tasks.enqueueMany(
            tx,
            Array.from({ length: 40 }, (_, n) => ({
              method: target.work,
              args: { n },
              options: n % 2 === 0 ? { queue: 'a' } : { queue: 'b', priority: -10 },
            })),
          ),
        );
        const worker = track(tasks.worker({ queues: ['a'], concurrency: 4, pollIntervalMs: 50 }));
        await worker.start();

        // Every claim along the way saw b's tasks first in priority order, and had to skip them.
        await waitFor('queue a to be drained', () => runs.length >= 20);
        await worker.stop();

        expect(runs.every((run) => run.queue === 'a')).toBe(true);
        expect(runs).toHaveLength(20);
        for (const attempt of enqueued.filter((a) => a.queue === 'b')) {
          expect(await tasks.get(attempt.id)).toMatchObject({ status: 'pending', numAttempts: 0 });
        }
      },
    );

    aboveDriver(
      'never runs more than a queue’s cap at once, nor more than `concurrency` in all',
      async () => {
        const { target, runs, most, mostTotal } = queueTarget(10);
        const tasks = await migratedTasks(harness(), { targets: [target] });
        const queues = ['a', 'b', 'c'];
        await harness().transaction((tx) =>
          tasks.enqueueMany(
            tx,
            Array.from({ length: 90 }, (_, n) => ({
              method: target.work,
              args: { n },
              options: { queue: queues[n % 3]! },
            })),
          ),
        );
        const worker = track(
          tasks.worker({
            concurrency: 6,
            queues: [{ name: 'a', concurrency: 2 }, { name: 'b', concurrency: 3 }, 'c'],
            pollIntervalMs: 50,
          }),
        );
        await worker.start();
        await waitFor('all 90 tasks to run', () => runs.length === 90, 30_000);
        await worker.stop();

        expect(Object.fromEntries(most)).toMatchObject({ a: 2, b: 3 });
        expect(most.get('c')).toBeLessThanOrEqual(6);
        expect(mostTotal()).toBe(6);
        expect(await tasks.list({ status: 'succeeded', limit: 1000 })).toHaveLength(90);
      },
    );

    aboveDriver(
      'one worker with concurrency 1 runs a pre-loaded queue in priority order, lower first',
      async () => {
        const { target, runs } = queueTarget(0);
        const tasks = await migratedTasks(harness(), { targets: [target] });
        // Priorities in a scrambled order, several tasks per priority.
        const priorities = Array.from({ length: 40 }, (_, n) => ((n * 7) % 11) - 5);
        await harness().transaction((tx) =>
          tasks.enqueueMany(
            tx,
            priorities.map((priority, n) => ({
              method: target.work,
              args: { n },
              options: { priority },
            })),
          ),
        );
        const worker = track(tasks.worker({ concurrency: 1, pollIntervalMs: 50 }));
        await worker.start();
        await waitFor('all 40 tasks to run', () => runs.length === 40, 20_000);
        await worker.stop();

        const order = runs.map((run) => run.priority);
        expect(order).toEqual([...priorities].sort((a, b) => a - b));
      },
    );
  });
}
