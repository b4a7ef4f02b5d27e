// Leases in the long-running worker: heartbeats keep a long handler's lease; a lost lease aborts
// the handler and fences off its late outcome; a task that kills its process every time ends
// failed after maxAttempts rescues instead of looping forever.
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect } from 'vitest';
import { LeaseLostError, defineTarget, type TaskContext } from '../../src/index.js';
import { coveredBy, fixtures, itOnNativeDrivers } from '../harness/dialects.js';
import { migratedTasks, newTasks } from '../harness/new-tasks.js';
import { useHarness } from '../harness/use-harness.js';
import { quietLogger } from '../harness/quiet-logger.js';
import { waitFor } from '../harness/wait-for.js';
import { workerChildTarget } from '../harness/worker-child-target.js';
import { useFleets, within } from '../harness/worker-process.js';
import { useWorkers } from '../harness/use-workers.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Resolves when `signal` aborts; fails after `timeoutMs`. */
function aborted(signal: AbortSignal, timeoutMs: number): Promise<void> {
  const fired = new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  return within(fired, timeoutMs, 'ctx.signal to be aborted');
}

for (const fixture of fixtures) {
  describe(fixture.label, () => {
    const harness = useHarness(fixture);
    const newFleet = useFleets();
    const track = useWorkers();

    const itOnNativeHeartbeats = itOnNativeDrivers(
      fixture,
      `the heartbeat timing under test is the worker’s; each driver’s lease extension runs in ${coveredBy('conformance/executor-claim.test.ts', 'attemptExtendLeases pushes held leases forward and returns only those')}, and a heartbeat beside ctx.transaction in ${coveredBy('conformance/handler-transaction.test.ts', 'a heartbeat after ctx.transaction committed, with the handler still going, sees no lost lease')}`,
    );
    itOnNativeHeartbeats(
      'a handler that runs for several leases keeps its lease through heartbeats',
      async () => {
        const leaseMs = 1000;
        const runs: number[] = [];
        const signals: AbortSignal[] = [];
        const target = defineTarget('Slow', {
          async work(_args: { n: number }, ctx: TaskContext) {
            runs.push(ctx.attempt.numAttempts);
            signals.push(ctx.signal);
            await delay(2.5 * leaseMs); // the long-running work under test
          },
        });
        const tasks = await migratedTasks(harness(), { targets: [target] });
        const worker = track(tasks.worker({ leaseMs, heartbeatMs: 200, rescueIntervalMs: 100 }));
        // A second worker whose rescuer would take the attempt the moment its lease ran out.
        const rescuer = track(
          newTasks(harness(), { targets: [target] }).worker({
            queues: ['nothing-here'],
            leaseMs,
            heartbeatMs: 200,
            rescueIntervalMs: 100,
          }),
        );
        const rescued: string[] = [];
        worker.on('rescued', ({ attempt }) => rescued.push(attempt.id));
        rescuer.on('rescued', ({ attempt }) => rescued.push(attempt.id));
        let succeeded = 0;
        worker.on('succeeded', () => (succeeded += 1));
        await Promise.all([worker.start(), rescuer.start()]);
        const { id } = await harness().transaction((tx) =>
          tasks.enqueue(tx, target.work, { n: 1 }),
        );

        await waitFor('the long task to succeed', () => succeeded === 1, 15_000);
        await Promise.all([worker.stop(), rescuer.stop()]);

        expect(runs).toEqual([1]);
        expect(rescued).toEqual([]);
        expect(signals[0]?.aborted).toBe(false);
        expect(await tasks.get(id)).toMatchObject({
          status: 'succeeded',
          numAttempts: 1,
          lastError: null,
        });
      },
    );

    const itOnNativeFencing = itOnNativeDrivers(
      fixture,
      `the lost lease and its signal under test are the worker’s; each driver’s fenced outcome write and rescue run in ${coveredBy('conformance/executor-claim.test.ts', 'attemptCompleteMany writes only runs still held under that worker and attempt count')} and ${coveredBy('conformance/executor-claim.test.ts', 'attemptRescueExpired returns expired leases to pending')}`,
    );
    itOnNativeFencing(
      'a lost lease aborts ctx.signal, and the late outcome is fenced off: the second run decides',
      async () => {
        await harness().createSideTable();
        const firstStarted = deferred();
        const secondDone = deferred();
        const firstFinished = deferred();
        const signals: AbortSignal[] = [];
        const lateErrors: unknown[] = [];
        const target = defineTarget('Lagging', {
          async work(_args: { n: number }, ctx: TaskContext) {
            const run = ctx.attempt.numAttempts;
            signals.push(ctx.signal);
            if (run > 1) {
              await ctx.transaction((tx) => harness().insertSide(tx, `run-${run}`));
              secondDone.resolve();
              return;
            }
            try {
              firstStarted.resolve();
              // Play a worker that stalled past its lease: the lease runs out, another worker's
              // rescuer hands the attempt back, and this worker's next heartbeat finds it gone.
              await harness().expireLease(ctx.attempt.id);
              await aborted(ctx.signal, 20_000);
              await within(secondDone.promise, 20_000, 'the second run to succeed');
              try {
                await ctx.transaction((tx) => harness().insertSide(tx, 'run-1'));
              } catch (error) {
                lateErrors.push(error);
              }
              throw new Error('late failure of the first run');
            } finally {
              firstFinished.resolve();
            }
          },
        });
        const tasks = await migratedTasks(harness(), { targets: [target] });
        // The holder: heartbeats every second and never rescues. The rescuer: rescues every 100 ms.
        const holder = track(
          tasks.worker({ leaseMs: 3000, heartbeatMs: 1000, rescueIntervalMs: 60_000 }),
        );
        const rescuer = track(
          newTasks(harness(), { targets: [target] }).worker({
            leaseMs: 3000,
            heartbeatMs: 1000,
            rescueIntervalMs: 100,
            pollIntervalMs: 100,
          }),
        );
        const rescued: string[] = [];
        rescuer.on('rescued', ({ attempt }) => rescued.push(attempt.id));
        await holder.start();
        const { id } = await harness().transaction((tx) =>
          tasks.enqueue(tx, target.work, { n: 1 }),
        );
        await within(firstStarted.promise, 10_000, 'the first run to start');
        await rescuer.start();

        await within(firstFinished.promise, 30_000, 'the first run to finish');
        await Promise.all([holder.stop(), rescuer.stop()]);

        expect(rescued).toContain(id);
        expect(signals).toHaveLength(2);
        expect(signals[0]?.aborted).toBe(true);
        // The reason carries a code handlers can test, as a cancel's or a time limit's does.
        expect(signals[0]?.reason).toBeInstanceOf(LeaseLostError);
        expect(signals[0]?.reason).toMatchObject({ code: 'LEASE_LOST' });
        expect(signals[1]?.aborted).toBe(false);
        expect(lateErrors).toHaveLength(1);
        expect(lateErrors[0]).toBeInstanceOf(LeaseLostError);
        expect(await harness().sideKeys()).toEqual(['run-2']);
        const attempt = await tasks.get(id);
        expect(attempt).toMatchObject({ status: 'succeeded', numAttempts: 2 });
        expect(attempt?.lastError ?? '').not.toContain('late failure');
      },
    );

    // A handler that ignores its signal ran on after its lease was lost; each heartbeat until it
    // returned tried to extend that lease again and logged "lease lost" again.
    const itOnNativeLeases = itOnNativeDrivers(
      fixture,
      `the repeated report under test is the worker’s; extending leases through each driver runs in ${coveredBy('conformance/executor-claim.test.ts', 'attemptExtendLeases pushes held leases forward and returns only those')}`,
    );
    itOnNativeLeases(
      'a lost lease is reported once while a handler that ignores its signal runs on',
      async () => {
        const lost = deferred();
        const warnings: string[] = [];
        const target = defineTarget('Stubborn', {
          async work(_args: { n: number }, ctx: TaskContext) {
            if (ctx.attempt.numAttempts > 1) return;
            await harness().expireLease(ctx.attempt.id);
            await aborted(ctx.signal, 20_000);
            lost.resolve();
            await delay(3500); // ignores the signal through three more heartbeats
          },
        });
        const tasks = await migratedTasks(harness(), {
          targets: [target],
          logger: quietLogger({ warn: (_object, message) => void warnings.push(message ?? '') }),
        });
        // The holder heartbeats every second and never rescues; the rescuer takes the expired lease
        // within 100 ms, before the holder's next heartbeat would extend it.
        const holder = track(
          tasks.worker({ leaseMs: 3000, heartbeatMs: 1000, rescueIntervalMs: 60_000 }),
        );
        const rescuer = track(
          newTasks(harness(), { targets: [target] }).worker({
            queues: ['nothing-here'],
            leaseMs: 3000,
            heartbeatMs: 1000,
            rescueIntervalMs: 100,
          }),
        );
        await Promise.all([holder.start(), rescuer.start()]);
        const { id } = await harness().transaction((tx) =>
          tasks.enqueue(tx, target.work, { n: 1 }),
        );
        await within(lost.promise, 20_000, 'the lease to be lost');
        await waitFor(
          'the stubborn run to end and the second to succeed',
          async () => holder.running === 0 && (await tasks.get(id))?.status === 'succeeded',
          10_000,
        );
        await Promise.all([holder.stop(), rescuer.stop()]);

        expect(warnings.filter((message) => message.startsWith('lease lost'))).toHaveLength(1);
        expect(await tasks.get(id)).toMatchObject({ status: 'succeeded', numAttempts: 2 });
      },
    );

    // Four processes and three lease expiries per run: about 20 s.
    const itOnNative = itOnNativeDrivers(
      fixture,
      `the rescue under test is the worker’s; each driver runs its statements in ${coveredBy('conformance/executor-claim.test.ts', 'attemptRescueExpired returns expired leases to pending')}`,
    );
    itOnNative(
      'a task that kills its worker process every time ends failed after maxAttempts rescues',
      async () => {
        const target = workerChildTarget();
        const tasks = await migratedTasks(harness(), { targets: [target] });
        const fleet = newFleet(harness().childEnv(), {
          leaseMs: 1000,
          heartbeatMs: 300,
          rescueIntervalMs: 200,
          pollIntervalMs: 100,
        });
        const { id } = await harness().transaction((tx) =>
          tasks.enqueue(tx, target.crash, { n: 1 }, { maxAttempts: 3 }),
        );

        // Each process claims the task and dies of it; the next one rescues it first. The fourth
        // finds it out of attempts and fails it.
        let current = fleet.start('crash-1');
        let checkedAt = 0;
        await fleet.waitFor(
          'the task to fail after three crashed processes',
          async () => {
            if (current.exit) {
              expect(current.exit, current.stderr).toEqual({ code: null, signal: 'SIGKILL' });
              expect(
                fleet.all.length,
                'processes crashed (the task should have failed)',
              ).toBeLessThan(4);
              current = fleet.start(`crash-${fleet.all.length + 1}`);
            }
            if (Date.now() - checkedAt < 100) return false;
            checkedAt = Date.now();
            return (await tasks.get(id))?.status === 'failed';
          },
          45_000,
        );

        const attempt = await tasks.get(id);
        expect(attempt).toMatchObject({ status: 'failed', numAttempts: 3 });
        expect(attempt?.completedAt).toBeInstanceOf(Date);
        expect(attempt?.lastError).toMatch(/^LeaseExpired: /);
        const runs = fleet.all.flatMap((worker) => worker.starts.map((run) => run.numAttempts));
        expect(runs).toEqual([1, 2, 3]);
        await fleet.stopAll();
      },
    );
  });
}
