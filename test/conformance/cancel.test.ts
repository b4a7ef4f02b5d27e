// tasks.cancel(id) on every fixture: a pending attempt expires at once and never runs, even racing
// a claim; a running one has its ctx.signal aborted within a second (NOTIFY on PostgreSQL, the
// worker's look at its held attempts elsewhere) and ends expired whatever its handler does; a
// finished one is left alone; the rescuer expires a cancelled attempt whose worker died. The
// executor statements underneath are checked directly first.
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { AttemptRecord } from '../../src/core/attempt.js';
import {
  CancelledError,
  defineTarget,
  type AsyncTask,
  type AsyncTaskError,
  type TaskContext,
} from '../../src/index.js';
import { coveredBy, fixtures, itOnNativeDrivers } from '../harness/dialects.js';
import { itRequires } from '../harness/it-requires.js';
import { claimParams, executorHarness } from '../harness/executor-harness.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { useHarness } from '../harness/use-harness.js';
import { useWorkers } from '../harness/use-workers.js';
import { waitFor } from '../harness/wait-for.js';
import { workerChildTarget } from '../harness/worker-child-target.js';
import { useFleets, within } from '../harness/worker-process.js';

const done = (record: AttemptRecord, status: 'succeeded' | 'pending' | 'failed') => ({
  id: record.id,
  numAttempts: record.numAttempts,
  status,
  delayMs: 0,
  error: status === 'succeeded' ? null : 'Error: boom',
});

/** A target whose `work` runs `behaviour`; `started` resolves when a run begins. */
function workTarget(behaviour: (ctx: TaskContext) => Promise<unknown> = () => Promise.resolve()) {
  const runs: string[] = [];
  let markStarted!: () => void;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  const target = defineTarget('Cancellable', {
    async work(_args: { n: number }, ctx: TaskContext) {
      runs.push(ctx.attempt.id);
      markStarted();
      await behaviour(ctx);
    },
  });
  return { target, runs, started };
}

/** Resolves with the time the signal aborted and its reason. */
function abortOf(signal: AbortSignal): Promise<{ at: number; reason: unknown }> {
  return new Promise((resolve) => {
    const fire = () => resolve({ at: performance.now(), reason: signal.reason });
    if (signal.aborted) fire();
    else signal.addEventListener('abort', fire, { once: true });
  });
}

for (const fixture of fixtures) {
  describe(`cancel: ${fixture.label}`, () => {
    const harness = useHarness(fixture);
    const track = useWorkers();
    const newFleet = useFleets();
    const itMultiProcess = itRequires(fixture, 'multiProcessWorkers');
    const aboveDriver = itOnNativeDrivers(
      fixture,
      `the handler’s end after a cancel is the worker’s (and runDue’s); every driver carries the request and records it expired in ${coveredBy('conformance/cancel.test.ts', 'a running handler in a worker has its signal aborted within a second')}`,
    );

    it('attemptCancel expires a pending row and marks a running one; a finished or unknown row is left alone', async () => {
      const x = await executorHarness(harness(), fixture.dialect);
      const [pending, running, other] = await x.insert([{}, {}, {}]);
      const claimed = await x.run((e) => e.attemptClaim(claimParams('w1', { limit: 2 })));
      const byId = new Map(claimed.records.map((r) => [r.id, r]));
      // The claim takes the two oldest: the first pending row is cancelled only after, by id.
      const runningRecord = byId.get(pending!.id)!;
      const idle = byId.get(running!.id)!;

      const expired = await x.run((e) => e.attemptCancel(other!.id));
      expect(expired).toMatchObject({ id: other!.id, status: 'expired', lastError: 'Cancelled' });
      expect(expired!.completedAt).toBeInstanceOf(Date);
      const requested = await x.run((e) => e.attemptCancel(runningRecord.id));
      expect(requested).toMatchObject({ status: 'running', lastError: null, completedAt: null });
      // Asking twice changes nothing more; a finished or missing row gives null.
      expect(await x.run((e) => e.attemptCancel(runningRecord.id))).toMatchObject({
        status: 'running',
      });
      expect(await x.run((e) => e.attemptCancel(other!.id))).toBeNull();
      expect(await x.run((e) => e.attemptCancel('987654321'))).toBeNull();

      // Only the marked run, and only under its own attempt count.
      expect(await x.run((e) => e.attemptListCancelRequested([runningRecord, idle]))).toEqual([
        runningRecord.id,
      ]);
      expect(
        await x.run((e) =>
          e.attemptListCancelRequested([{ id: runningRecord.id, numAttempts: 2 }]),
        ),
      ).toEqual([]);
      expect(await x.run((e) => e.attemptListCancelRequested([]))).toEqual([]);
    });

    aboveDriver(
      'a cancel-requested run is recorded expired whatever its outcome, a retry included, and retry() clears the request',
      async () => {
        const x = await executorHarness(harness(), fixture.dialect);
        await x.insert([{}, {}, {}]);
        const { records } = await x.run((e) => e.attemptClaim(claimParams('w1')));
        const [succeeded, retried, untouched] = records;
        await x.run((e) => e.attemptCancel(succeeded!.id));
        await x.run((e) => e.attemptCancel(retried!.id));
        const written = await x.run((e) =>
          e.attemptCompleteMany('w1', [
            done(succeeded!, 'succeeded'),
            done(retried!, 'pending'),
            done(untouched!, 'pending'),
          ]),
        );
        expect(written.sort()).toEqual([succeeded!.id, retried!.id, untouched!.id].sort());
        for (const id of [succeeded!.id, retried!.id]) {
          const row = await x.get(id);
          expect(row).toMatchObject({ status: 'expired', lastError: 'Cancelled', lockedBy: null });
          expect(row.completedAt).toBeInstanceOf(Date);
        }
        expect(await x.get(untouched!.id)).toMatchObject({
          status: 'pending',
          lastError: 'Error: boom',
        });

        // Retried by an operator, it runs again as any attempt: the old request is gone.
        expect(await x.run((e) => e.attemptSetPendingIfFinished(retried!.id))).toMatchObject({
          status: 'pending',
        });
        const again = await x.run((e) => e.attemptClaim(claimParams('w2')));
        const rerun = again.records.find((r) => r.id === retried!.id)!;
        expect(await x.run((e) => e.attemptListCancelRequested([rerun]))).toEqual([]);
        await x.run((e) => e.attemptCompleteMany('w2', [done(rerun, 'succeeded')]));
        expect(await x.get(retried!.id)).toMatchObject({ status: 'succeeded' });
      },
    );

    it('a cancel-requested run handed back at shutdown is expired, not made pending', async () => {
      const x = await executorHarness(harness(), fixture.dialect);
      await x.insert([{}, {}]);
      const { records } = await x.run((e) => e.attemptClaim(claimParams('w1')));
      const [cancelled, plain] = records;
      await x.run((e) => e.attemptCancel(cancelled!.id));
      const released = await x.run((e) => e.attemptReleaseMany('w1', records));
      expect(released.sort()).toEqual([cancelled!.id, plain!.id].sort());
      expect(await x.get(cancelled!.id)).toMatchObject({
        status: 'expired',
        lastError: 'Cancelled',
        lockedBy: null,
      });
      expect(await x.get(plain!.id)).toMatchObject({ status: 'pending', completedAt: null });
    });

    it('the rescuer expires a cancelled attempt whose worker died, instead of running it again', async () => {
      const x = await executorHarness(harness(), fixture.dialect);
      await x.insert([{}, {}]);
      const { records } = await x.run((e) => e.attemptClaim(claimParams('dead')));
      const [cancelled, plain] = records;
      await x.run((e) => e.attemptCancel(cancelled!.id));
      await harness().expireLease(cancelled!.id);
      await harness().expireLease(plain!.id);
      const rescued = await x.run((e) => e.attemptRescueExpired(10));
      const byId = new Map(rescued.map((r) => [r.id, r]));
      expect(byId.get(cancelled!.id)).toMatchObject({
        status: 'expired',
        lastError: 'Cancelled',
        lockedBy: null,
      });
      expect(byId.get(cancelled!.id)!.completedAt).toBeInstanceOf(Date);
      expect(byId.get(plain!.id)).toMatchObject({ status: 'pending', completedAt: null });
      // Nothing left to claim but the plain one.
      const next = await x.run((e) => e.attemptClaim(claimParams('w2')));
      expect(next.records.map((r) => r.id)).toEqual([plain!.id]);
    });

    it('cancels racing claims: every attempt cancelled while pending never runs, every one cancelled while running ends expired', async () => {
      const x = await executorHarness(harness(), fixture.dialect);
      const rows = await x.insert(Array.from({ length: 40 }, () => ({})));
      const claimedIds = new Set<string>();
      const claims: AttemptRecord[] = [];
      // The two sides race in the middle, but each is sure to reach its own end first: the
      // claimers start once the newest attempt is cancelled (still pending), and the canceller
      // goes past the newer half once a few of the oldest are claimed (running). Without these,
      // a loaded machine let one side finish before the other began.
      let newestCancelled!: () => void;
      const cancelStarted = new Promise<void>((resolve) => (newestCancelled = resolve));
      let someClaimed!: () => void;
      const claimsStarted = new Promise<void>((resolve) => (someClaimed = resolve));
      const claimer = async (name: string) => {
        await cancelStarted;
        for (let i = 0; i < 20; i++) {
          const { records } = await x.run((e) => e.attemptClaim(claimParams(name, { limit: 2 })));
          for (const record of records) {
            claimedIds.add(record.id);
            claims.push(record);
          }
          if (claimedIds.size >= 4) someClaimed();
          if (records.length === 0) break;
        }
        // Never leave the canceller waiting, whatever the claims found.
        someClaimed();
      };
      const outcomes = new Map<string, AttemptRecord | null>();
      // Newest first, against claims taking the oldest first: they meet somewhere in between.
      const canceller = async () => {
        for (const [index, row] of [...rows].reverse().entries()) {
          if (index === rows.length / 2) await claimsStarted;
          outcomes.set(row.id, await x.run((e) => e.attemptCancel(row.id)));
          if (index === 0) newestCancelled();
        }
      };
      await Promise.all([claimer('a'), claimer('b'), canceller()]);
      // Each claimer's runs end (succeeded, as far as it knows).
      await x.run((e) =>
        e.attemptCompleteMany(
          'a',
          claims.filter((c) => c.lockedBy === 'a').map((c) => done(c, 'succeeded')),
        ),
      );
      await x.run((e) =>
        e.attemptCompleteMany(
          'b',
          claims.filter((c) => c.lockedBy === 'b').map((c) => done(c, 'succeeded')),
        ),
      );
      let cancelledPending = 0;
      let cancelledRunning = 0;
      for (const row of rows) {
        const outcome = outcomes.get(row.id);
        const stored = await x.get(row.id);
        // Every cancel found the row pending or running: none had finished yet.
        expect(outcome).not.toBeNull();
        expect(stored).toMatchObject({ status: 'expired', lastError: 'Cancelled' });
        if (outcome!.status === 'expired') {
          cancelledPending += 1;
          expect(claimedIds.has(row.id), `attempt ${row.id} was claimed after its cancel`).toBe(
            false,
          );
        } else {
          cancelledRunning += 1;
          expect(outcome!.status).toBe('running');
          expect(claimedIds.has(row.id)).toBe(true);
        }
      }
      expect(cancelledPending).toBeGreaterThan(0);
      expect(cancelledRunning).toBeGreaterThan(0);
    });

    it('a pending attempt cancelled through the API expires at once and never runs; cancelling again or an unknown id changes nothing', async () => {
      const { target, runs } = workTarget();
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const attempt = await harness().transaction((tx) => tasks.enqueue(tx, target.work, { n: 1 }));

      const result = await tasks.cancel(attempt.id);
      expect(result.outcome).toBe('cancelled');
      expect(result.attempt).toMatchObject({
        id: attempt.id,
        status: 'expired',
        lastError: 'Cancelled',
        numAttempts: 0,
      });
      expect(result.attempt!.completedAt).toBeInstanceOf(Date);

      expect(await tasks.runDue()).toMatchObject({ claimed: 0 });
      expect(runs).toEqual([]);
      const again = await tasks.cancel(attempt.id);
      expect(again).toEqual({ outcome: 'finished', attempt: result.attempt });
      expect(await tasks.cancel('987654321')).toEqual({ outcome: 'not-found', attempt: null });
      expect(await tasks.cancel('not-an-id')).toEqual({ outcome: 'not-found', attempt: null });
    });

    it('cancelling a finished attempt changes nothing', async () => {
      const { target } = workTarget();
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const attempt = await harness().transaction((tx) => tasks.enqueue(tx, target.work, { n: 1 }));
      await tasks.runDue();
      const before = await tasks.get(attempt.id);
      expect(before).toMatchObject({ status: 'succeeded' });

      expect(await tasks.cancel(attempt.id)).toEqual({ outcome: 'finished', attempt: before });
      expect(await tasks.get(attempt.id)).toEqual(before);
    });

    it('a running handler in a worker has its signal aborted within a second, with a CancelledError, and ends expired although it returned normally', async () => {
      let seen: Promise<{ at: number; reason: unknown }> | undefined;
      const { target, started } = workTarget(async (ctx) => {
        seen = abortOf(ctx.signal);
        await seen;
        return 'finished anyway';
      });
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const worker = track(tasks.worker({ pollIntervalMs: 50 }));
      const cancelledEvents: string[] = [];
      worker.on('cancelled', ({ attempt }) => cancelledEvents.push(attempt.id));
      await worker.start();
      const attempt = await harness().transaction((tx) => tasks.enqueue(tx, target.work, { n: 1 }));
      await started;

      const asked = performance.now();
      const result = await tasks.cancel(attempt.id);
      expect(result.outcome).toBe('requested');
      expect(result.attempt).toMatchObject({ status: 'running' });
      const { at, reason } = await seen!;
      const latencyMs = at - asked;
      expect(latencyMs).toBeLessThan(1000);
      expect(reason).toBeInstanceOf(CancelledError);
      expect(reason).toMatchObject({ code: 'CANCELLED', attemptId: attempt.id });

      await waitFor('the attempt to be recorded', async () => {
        return (await tasks.get(attempt.id))?.status !== 'running';
      });
      const stored = await tasks.get(attempt.id);
      expect(stored).toMatchObject({ status: 'expired', lastError: 'Cancelled', numAttempts: 1 });
      await waitFor('the cancelled event', () => cancelledEvents.length === 1);
      expect(cancelledEvents).toEqual([attempt.id]);
    });

    itMultiProcess(
      'in a worker process, a hanging handler’s signal aborts within a second of the cancel; stopped, the attempt ends expired instead of going back to pending',
      async () => {
        const target = workerChildTarget();
        const tasks = await migratedTasks(harness(), { targets: [target] });
        const fleet = newFleet(harness().childEnv(), { pollIntervalMs: 100 });
        const worker = fleet.start('cancel-1');
        await within(worker.ready, 20_000, 'the worker to start');
        const { id } = await harness().transaction((tx) =>
          tasks.enqueue(tx, target.hang, { n: 1 }),
        );
        await worker.line((line) => line.startsWith(`start ${id} `), 'the run to start');

        const asked = performance.now();
        expect((await tasks.cancel(id)).outcome).toBe('requested');
        await worker.line((line) => line === `aborted ${id}`, 'the signal to abort', 5000);
        const latencyMs = performance.now() - asked;
        expect(latencyMs).toBeLessThan(1000);

        // The handler never settles: stop() gives up on it and hands its lease back.
        worker.stop(200);
        expect(await within(worker.exited, 20_000, 'the worker to exit')).toEqual({
          code: 0,
          signal: null,
        });
        // It ran: counted, with its history entry (handed back, it had lost both).
        const stored = await tasks.get(id);
        expect(stored).toMatchObject({ status: 'expired', lastError: 'Cancelled', numAttempts: 1 });
        expect(stored?.runs).toHaveLength(1);
        expect(stored?.runs[0]).toMatchObject({ n: 1, outcome: 'cancelled' });
        expect(stored?.runs[0]?.startedAt).toBeInstanceOf(Date);
        expect(worker.starts).toHaveLength(1);
      },
    );

    it('a request that lands as the run succeeds, after the worker last looked: recorded cancelled, counted and reported so, with its history entry', async () => {
      const late: { tasks?: AsyncTask<unknown, unknown> } = {};
      // The request commits before the handler returns; runDue looks for requests every 500 ms,
      // so the success it then writes is what finds it.
      const { target } = workTarget(async (ctx) => {
        expect((await late.tasks!.cancel(ctx.attempt.id)).outcome).toBe('requested');
      });
      const tasks = await migratedTasks(harness(), { targets: [target] });
      late.tasks = tasks;
      const many = await harness().transaction((tx) =>
        tasks.enqueueMany(tx, [
          { method: target.work, args: { n: 1 } },
          { method: target.work, args: { n: 2 } },
          { method: target.work, args: { n: 3 } },
        ]),
      );

      expect(await tasks.runDue()).toMatchObject({ claimed: 3, succeeded: 0, cancelled: 3 });
      for (const { id } of many) {
        const stored = await tasks.get(id);
        expect(stored).toMatchObject({ status: 'expired', lastError: 'Cancelled', numAttempts: 1 });
        expect(stored?.runs).toHaveLength(1);
        expect(stored?.runs[0]).toMatchObject({ n: 1, outcome: 'cancelled', error: 'Cancelled' });
      }

      // A worker, with a 'cancelled' listener only: told of each, never of a success.
      const worker = track(tasks.worker({ pollIntervalMs: 50 }));
      const events: string[] = [];
      worker.on('cancelled', ({ attempt }) => void events.push(`cancelled ${attempt.id}`));
      await worker.start();
      try {
        const { id } = await harness().transaction((tx) =>
          tasks.enqueue(tx, target.work, { n: 4 }),
        );
        await waitFor('the cancelled event', () => events.length === 1);
        expect(events).toEqual([`cancelled ${id}`]);
        expect(await tasks.get(id)).toMatchObject({ status: 'expired', lastError: 'Cancelled' });
      } finally {
        await worker.stop();
      }
    });

    aboveDriver(
      'a handler that goes on after its signal aborted and then throws still ends expired, without a retry or onError',
      async () => {
        const errors: unknown[] = [];
        const { target, runs, started } = workTarget(async (ctx) => {
          await abortOf(ctx.signal);
          await delay(20); // goes on with its work regardless
          throw new Error('ignored the signal');
        });
        const tasks = await migratedTasks(harness(), {
          targets: [target],
          onError: (error) => void errors.push(error),
        });
        const attempt = await harness().transaction((tx) =>
          tasks.enqueue(tx, target.work, { n: 1 }),
        );
        const pass = tasks.runDue();
        await started;
        expect((await tasks.cancel(attempt.id)).outcome).toBe('requested');

        expect(await pass).toMatchObject({ claimed: 1, cancelled: 1, retried: 0, failed: 0 });
        expect(await tasks.get(attempt.id)).toMatchObject({
          status: 'expired',
          lastError: 'Cancelled',
        });
        expect(errors).toEqual([]);
        expect(await tasks.runDue()).toMatchObject({ claimed: 0 });
        expect(runs).toEqual([attempt.id]);
      },
    );

    aboveDriver('runDue aborts a cancelled handler within a second too', async () => {
      let seen: Promise<{ at: number; reason: unknown }> | undefined;
      const { target, started } = workTarget(async (ctx) => {
        seen = abortOf(ctx.signal);
        throw (await seen).reason;
      });
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const attempt = await harness().transaction((tx) => tasks.enqueue(tx, target.work, { n: 1 }));
      const pass = tasks.runDue();
      await started;
      const asked = performance.now();
      await tasks.cancel(attempt.id);
      const { at, reason } = await seen!;
      expect(at - asked).toBeLessThan(1000);
      expect((reason as AsyncTaskError).code).toBe('CANCELLED');
      expect(await pass).toMatchObject({ cancelled: 1, failed: 0 });
      expect(await tasks.get(attempt.id)).toMatchObject({ status: 'expired' });
    });

    it('ctx.transaction after a cancel request rolls back the handler’s writes', async () => {
      await harness().createSideTable();
      let proceed!: () => void;
      const gate = new Promise<void>((resolve) => (proceed = resolve));
      let thrown: unknown;
      const { target, started } = workTarget(async (ctx) => {
        await gate;
        try {
          await ctx.transaction((tx) => harness().insertSide(tx, 'written'));
        } catch (error) {
          thrown = error;
        }
      });
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const attempt = await harness().transaction((tx) => tasks.enqueue(tx, target.work, { n: 1 }));
      const pass = tasks.runDue();
      await started;
      expect((await tasks.cancel(attempt.id)).outcome).toBe('requested');
      proceed();

      expect(await pass).toMatchObject({ cancelled: 1, succeeded: 0 });
      expect(thrown).toBeInstanceOf(CancelledError);
      expect(await harness().sideKeys()).toEqual([]);
      expect(await tasks.get(attempt.id)).toMatchObject({
        status: 'expired',
        lastError: 'Cancelled',
      });
    });
  });
}
