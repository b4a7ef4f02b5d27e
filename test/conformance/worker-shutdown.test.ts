// worker.stop(): nothing lost and no attempt burnt by the shutdown; a handler that ignores its
// signal past `timeoutMs` is aborted and handed back; a stopped worker leaves nothing that keeps
// the process alive.
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { LeaseLostError, defineTarget, type TaskContext } from '../../src/index.js';
import { coveredBy, fixtures, itOnNativeDrivers } from '../harness/dialects.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { useHarness } from '../harness/use-harness.js';
import { waitFor } from '../harness/wait-for.js';
import { workerChildTarget } from '../harness/worker-child-target.js';
import { useFleets, within } from '../harness/worker-process.js';
import { useWorkers } from '../harness/use-workers.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

for (const fixture of fixtures) {
  describe(fixture.label, () => {
    const harness = useHarness(fixture);
    const newFleet = useFleets();
    const track = useWorkers();
    const aboveDriver = itOnNativeDrivers(
      fixture,
      `the stop under test is the worker’s; each driver hands runs back and writes fenced outcomes in ${coveredBy('conformance/executor-claim.test.ts', 'attemptReleaseMany hands held runs back to pending without counting them')} and ${coveredBy('conformance/executor-claim.test.ts', 'attemptCompleteMany writes only runs still held under that worker and attempt count')}`,
    );

    aboveDriver(
      'stop() under load: in-flight runs finish, unstarted claims go back with their count undone',
      async () => {
        await harness().createSideTable();
        const runs = new Map<string, number>();
        const target = defineTarget('Load', {
          async work(args: { key: string }, ctx: TaskContext) {
            runs.set(ctx.attempt.id, (runs.get(ctx.attempt.id) ?? 0) + 1);
            await delay(5); // a little work, so that handlers overlap and stop() finds some running
            await ctx.transaction((tx) => harness().insertSide(tx, args.key));
          },
        });
        const tasks = await migratedTasks(harness(), { targets: [target] });
        const count = 300;
        await harness().transaction((tx) =>
          tasks.enqueueMany(
            tx,
            Array.from({ length: count }, (_, n) => ({
              method: target.work,
              args: { key: `k${n}` },
            })),
          ),
        );
        const worker = track(tasks.worker({ concurrency: 8, prefetch: 24, pollIntervalMs: 200 }));
        let claimed = 0;
        let succeeded = 0;
        worker.on('claimed', (event) => (claimed += event.count));
        worker.on('succeeded', () => (succeeded += 1));
        await worker.start();
        const started = (): number => [...runs.values()].reduce((a, b) => a + b, 0);
        // Stop at a moment with claimed attempts waiting in the buffer: with a slow claim (a client
        // that claims in an interactive transaction) the buffer can be empty for a while.
        await waitFor(
          '50 tasks to succeed, with claimed ones waiting to start',
          () => succeeded >= 50 && claimed - started() > 0 && worker.running > 0,
        );

        const runningAtStop = worker.running;
        const unstartedAtStop = claimed - started();
        await worker.stop();

        expect(runningAtStop, 'handlers running when stop() was called').toBeGreaterThan(0);
        expect(
          unstartedAtStop,
          'claimed attempts not started when stop() was called',
        ).toBeGreaterThan(0);
        const attempts = await tasks.list({ limit: 1000 });
        expect(attempts).toHaveLength(count);
        const wrong = attempts.filter((attempt) => {
          const ran = runs.get(attempt.id) ?? 0;
          return attempt.status === 'succeeded'
            ? ran !== 1 || attempt.numAttempts !== 1
            : attempt.status !== 'pending' || ran !== 0 || attempt.numAttempts !== 0;
        });
        expect(wrong, 'attempts whose state does not match their runs').toEqual([]);
        const done = attempts.filter((attempt) => attempt.status === 'succeeded');
        expect(done.length).toBe(succeeded);
        expect(await harness().sideKeys()).toHaveLength(done.length);

        // The rest runs on a second worker, each task once.
        const second = track(tasks.worker({ concurrency: 8, pollIntervalMs: 100 }));
        second.on('succeeded', () => (succeeded += 1));
        await second.start();
        await waitFor(
          'the rest to succeed',
          () => runs.size === count && succeeded === count,
          30_000,
        );
        await second.stop();
        const after = await tasks.list({ limit: 1000 });
        expect(after.filter((a) => a.status !== 'succeeded' || a.numAttempts !== 1)).toEqual([]);
        expect([...runs.values()].every((ran) => ran === 1)).toBe(true);
        expect(await harness().sideKeys()).toHaveLength(count);
      },
    );

    aboveDriver(
      'stop({ timeoutMs }): a handler that ignores its signal is aborted, handed back unburnt, and its late success fenced off',
      async () => {
        await harness().createSideTable();
        const started = deferred();
        const gate = deferred();
        const signals: AbortSignal[] = [];
        const lateErrors: unknown[] = [];
        const target = defineTarget('Stubborn', {
          async work(_args: { n: number }, ctx: TaskContext) {
            signals.push(ctx.signal);
            started.resolve();
            await gate.promise; // ignores ctx.signal
            try {
              await ctx.transaction((tx) => harness().insertSide(tx, `run-${signals.length}`));
            } catch (error) {
              lateErrors.push(error);
              throw error;
            }
          },
        });
        const tasks = await migratedTasks(harness(), { targets: [target] });
        const { id } = await harness().transaction((tx) =>
          tasks.enqueue(tx, target.work, { n: 1 }),
        );
        const worker = track(tasks.worker({ pollIntervalMs: 100 }));
        let settled = 0;
        worker.on('succeeded', () => (settled += 1));
        worker.on('retried', () => (settled += 1));
        await worker.start();
        await within(started.promise, 10_000, 'the handler to start');
        expect(await tasks.get(id)).toMatchObject({ status: 'running', numAttempts: 1 });

        const stopping = Date.now();
        await worker.stop({ timeoutMs: 300 });
        expect(Date.now() - stopping).toBeGreaterThanOrEqual(290);

        expect(signals[0]?.aborted).toBe(true);
        expect(await tasks.get(id)).toMatchObject({
          status: 'pending',
          numAttempts: 0,
          completedAt: null,
        });

        // The handler carries on regardless; its ctx.transaction finds the lease gone.
        gate.resolve();
        await waitFor('the late handler to finish', () => lateErrors.length === 1);
        expect(lateErrors[0]).toBeInstanceOf(LeaseLostError);
        expect(await harness().sideKeys()).toEqual([]);
        expect(await tasks.get(id)).toMatchObject({ status: 'pending', numAttempts: 0 });
        expect(settled, 'events for the abandoned run').toBe(0);

        const next = track(tasks.worker({ pollIntervalMs: 100 }));
        await next.start();
        await waitFor(
          'the task to run again',
          async () => (await tasks.get(id))?.status === 'succeeded',
        );
        await next.stop();
        expect(await tasks.get(id)).toMatchObject({ status: 'succeeded', numAttempts: 1 });
        expect(await harness().sideKeys()).toEqual(['run-2']);
      },
    );

    aboveDriver(
      'stop({ timeoutMs }) while the onError hook of a failed run hangs: the failure is recorded (counted, with its history entry), not handed back',
      async () => {
        const hookStarted = deferred();
        const target = defineTarget('Failing', {
          work(_args: { n: number }): void {
            throw new Error('card declined');
          },
        });
        const tasks = await migratedTasks(harness(), {
          targets: [target],
          onError: () => {
            hookStarted.resolve();
            return new Promise<void>(() => undefined); // an error tracker that never answers
          },
        });
        const { id } = await harness().transaction((tx) =>
          tasks.enqueue(tx, target.work, { n: 1 }, { maxAttempts: 3 }),
        );
        const worker = track(tasks.worker({ pollIntervalMs: 100 }));
        const retried: string[] = [];
        worker.on('retried', ({ attempt }) => void retried.push(attempt.id));
        await worker.start();
        await within(hookStarted.promise, 10_000, 'the onError hook to start');
        await worker.stop({ timeoutMs: 200 });

        const stored = await tasks.get(id);
        expect(stored).toMatchObject({
          status: 'pending',
          numAttempts: 1,
          lastError: 'Error: card declined',
        });
        expect(stored?.runs).toHaveLength(1);
        expect(stored?.runs[0]).toMatchObject({ n: 1, outcome: 'retried' });
        expect(retried).toEqual([id]);
      },
    );

    const itOnNative = itOnNativeDrivers(
      fixture,
      `the start-up under test is the worker’s; that each driver’s pool lets the process end is ${coveredBy('conformance/worker-shutdown.test.ts', 'a process whose worker stopped (a handler still hanging) and pool closed exits by itself')}`,
    );
    itOnNative(
      'stop() while start() still checks the schema sets nothing up: the process exits by itself',
      async () => {
        await migratedTasks(harness(), { targets: [workerChildTarget()] });
        const env = { ...harness().childEnv(), ASYNC_TASK_CHILD_STOP_DURING_START: '1' };
        // Retention on (the default), signals handled: a pruner, a LISTEN or a signal handler set up
        // after the stop would each keep the process alive.
        const fleet = newFleet(env, { pollIntervalMs: 100, handleSignals: true });
        const worker = fleet.start('stopped-while-starting');
        await worker.line((line) => line === 'stopped', 'start() and stop() to resolve');
        const exit = await within(worker.exited, 10_000, 'the process to exit by itself');
        expect(exit, worker.stderr).toEqual({ code: 0, signal: null });
      },
    );

    it('a process whose worker stopped (a handler still hanging) and pool closed exits by itself', async () => {
      const target = workerChildTarget();
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const fleet = newFleet(harness().childEnv(), { pollIntervalMs: 100 });
      const worker = fleet.start('hanging');
      await worker.ready;
      const { id } = await harness().transaction((tx) => tasks.enqueue(tx, target.hang, { n: 1 }));
      await worker.line((line) => line === `start ${id} 1`, 'the handler to start');

      worker.stop(300);

      await worker.line((line) => line === `aborted ${id}`, 'ctx.signal to be aborted');
      await worker.line((line) => line === 'stopped', 'stop() and the pool to close');
      const exit = await within(worker.exited, 10_000, 'the process to exit by itself');
      expect(exit, worker.stderr).toEqual({ code: 0, signal: null });
      expect(await tasks.get(id)).toMatchObject({ status: 'pending', numAttempts: 0 });
    });
  });
}
