// ctx.progress on every fixture: coalesced writes (counted at the connection), the last value
// visible while the run goes on and after it, refused values, and the fence and resets of the
// progress columns at the executor.
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import {
  AsyncTask,
  ConfigError,
  defineTarget,
  type Driver,
  type TaskContext,
} from '../../src/index.js';
import type { AttemptRecord } from '../../src/core/attempt.js';
import { silentLogger } from '../../src/core/logger.js';
import type { SqlConnection } from '../../src/seam/sql-connection.js';
import { coveredBy, fixtures, itOnlyOn, itOnNativeDrivers } from '../harness/dialects.js';
import { claimParams, executorHarness } from '../harness/executor-harness.js';
import type { Harness } from '../harness/fixture.js';
import { useHarness } from '../harness/use-harness.js';
import { useWorkers } from '../harness/use-workers.js';
import { waitFor } from '../harness/wait-for.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * The harness's driver, counting the progress writes that go through its pool connections; the
 * first `failing` of them fail (as a dropped connection would) without reaching the database.
 */
function countingProgressWrites(
  driver: Driver<unknown, unknown>,
  failing = 0,
): {
  driver: Driver<unknown, unknown>;
  writes: () => number;
} {
  let writes = 0;
  const counted = (connection: SqlConnection): SqlConnection =>
    new Proxy(connection, {
      get(target, property) {
        if (property === 'query') {
          return async (statement: { name: string }, params: readonly unknown[]) => {
            if (statement.name.includes('attemptSetProgress')) {
              writes += 1;
              if (writes <= failing) throw new Error('connection terminated unexpectedly');
            }
            return target.query(statement as never, params);
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value.bind(target) as unknown) : value;
      },
    });
  const wrapped = new Proxy(driver, {
    get(target, property) {
      if (property === 'run') {
        return <T>(fn: (connection: SqlConnection) => Promise<T>) =>
          target.run((connection) => fn(counted(connection)));
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value.bind(target) as unknown) : value;
    },
  });
  return { driver: wrapped, writes: () => writes };
}

async function countedTasks(
  harness: Harness,
  target: ReturnType<typeof defineTarget>,
  failing = 0,
) {
  const { driver, writes } = countingProgressWrites(harness.driver, failing);
  const warnings: string[] = [];
  const logger = {
    ...silentLogger,
    warn: (fields: object, message: string) =>
      warnings.push(`${message} ${JSON.stringify(fields)}`),
  };
  const tasks = new AsyncTask({ driver, table: harness.table, targets: [target], logger });
  await tasks.migrate();
  return { tasks, writes, warnings };
}

const total = 10_000;

for (const fixture of fixtures) {
  describe(`progress: ${fixture.label}`, () => {
    const harness = useHarness(fixture);
    const track = useWorkers();

    itOnNativeDrivers(
      fixture,
      `the coalescing under test is the worker’s; each driver writes progress in ${coveredBy('conformance/progress.test.ts', 'the last value is written before the outcome, even when the handler returns at once')}`,
    )(
      '10,000 reports make two writes; the latest shows while the run goes on, and after',
      async () => {
        const reported = deferred();
        const release = deferred();
        const target = defineTarget('Resizer', {
          async resize(_args: { n: number }, ctx: TaskContext) {
            for (let i = 1; i <= total; i++) ctx.progress(i / total, `resized ${i} of ${total}`);
            reported.resolve();
            await release.promise;
          },
        });
        const { tasks, writes, warnings } = await countedTasks(harness(), target);
        const worker = track(tasks.worker({ pollIntervalMs: 50 }));
        let succeeded = 0;
        worker.on('succeeded', () => (succeeded += 1));
        const { id } = await harness().transaction((tx) =>
          tasks.enqueue(tx, target.resize, { n: 1 }),
        );
        // Before the worker starts: once it runs, the first report is written at once.
        expect(await tasks.get(id)).toMatchObject({ progress: null, progressMessage: null });
        await worker.start();

        await reported.promise;
        await waitFor('the last report to be written', async () => {
          const attempt = await tasks.get(id);
          return attempt?.progress === 1;
        }).catch((error: unknown) => {
          throw new Error(`${String(error)}; ${writes()} writes, warnings: ${warnings.join('; ')}`);
        });
        const running = await tasks.get(id);
        expect(running).toMatchObject({
          status: 'running',
          progress: 1,
          progressMessage: `resized ${total} of ${total}`,
        });
        const [listed] = await tasks.list({ status: 'running' });
        expect(listed).toMatchObject({
          id,
          progress: 1,
          progressMessage: `resized ${total} of ${total}`,
        });
        // The first report at once, the latest when the second was up; nothing in between.
        expect(writes()).toBe(2);

        release.resolve();
        await waitFor('the run to succeed', () => succeeded === 1);
        expect(await tasks.get(id)).toMatchObject({
          status: 'succeeded',
          progress: 1,
          progressMessage: `resized ${total} of ${total}`,
        });
        expect(writes()).toBe(2);
      },
    );

    it('the last value is written before the outcome, even when the handler returns at once', async () => {
      const target = defineTarget('Thirds', {
        work(_args: { n: number }, ctx: TaskContext) {
          ctx.progress(0.1, 'started');
          ctx.progress(1 / 3, 'a third');
        },
      });
      const { tasks, writes } = await countedTasks(harness(), target);
      const { id } = await harness().transaction((tx) => tasks.enqueue(tx, target.work, { n: 1 }));
      expect(await tasks.runDue()).toMatchObject({ succeeded: 1 });
      expect(await tasks.get(id)).toMatchObject({
        status: 'succeeded',
        progress: 0.333333,
        progressMessage: 'a third',
      });
      expect(writes()).toBe(2);
    });

    it('the last value is written before ctx.transaction commits the success', async () => {
      await harness().createSideTable();
      const target = defineTarget('Writer', {
        async work(_args: { n: number }, ctx: TaskContext) {
          ctx.progress(0.1, 'reading');
          ctx.progress(0.9, 'writing');
          await ctx.transaction((tx) => harness().insertSide(tx, 'written'));
        },
      });
      const { tasks, writes } = await countedTasks(harness(), target);
      const { id } = await harness().transaction((tx) => tasks.enqueue(tx, target.work, { n: 1 }));
      expect(await tasks.runDue()).toMatchObject({ succeeded: 1 });
      expect(await harness().sideKeys()).toEqual(['written']);
      expect(await tasks.get(id)).toMatchObject({
        status: 'succeeded',
        progress: 0.9,
        progressMessage: 'writing',
      });
      expect(writes()).toBe(2);
    });

    it('a value reported inside ctx.transaction’s body is written with it, before its completion', async () => {
      await harness().createSideTable();
      const target = defineTarget('Writer', {
        async work(args: { n: number }, ctx: TaskContext) {
          if (args.n === 1) ctx.progress(0.5, 'second');
          await ctx.transaction(async (tx) => {
            await harness().insertSide(tx, `written-${args.n}`);
            ctx.progress(0.9, 'last');
          });
        },
      });
      const { tasks } = await countedTasks(harness(), target);
      const [before, only] = await harness().transaction((tx) =>
        tasks.enqueueMany(tx, [
          { method: target.work, args: { n: 1 } },
          { method: target.work, args: { n: 2 } },
        ]),
      );
      expect(await tasks.runDue()).toMatchObject({ succeeded: 2 });
      for (const { id } of [before!, only!]) {
        expect(await tasks.get(id)).toMatchObject({
          status: 'succeeded',
          progress: 0.9,
          progressMessage: 'last',
        });
      }
    });

    // The pacing is the worker's, the same on every database: one native fixture runs it.
    itOnlyOn(
      fixture,
      ['sqlite/better-sqlite3'],
      `the pacing under test is the worker’s timer, the same on every database; the writes it paces run through every driver in ${coveredBy('conformance/progress.test.ts', 'the last value is written before the outcome, even when the handler returns at once')}`,
    )('reports spread over time are written at most once a second, plus the last one', async () => {
      let elapsedMs = 0;
      const target = defineTarget('Paced', {
        async work(_args: { n: number }, ctx: TaskContext) {
          const started = performance.now();
          for (let i = 1; i <= 60; i++) {
            ctx.progress(i / 60, `step ${i}`);
            await delay(20); // the handler's own work between reports
          }
          elapsedMs = performance.now() - started;
        },
      });
      const { tasks, writes } = await countedTasks(harness(), target);
      const { id } = await harness().transaction((tx) => tasks.enqueue(tx, target.work, { n: 1 }));
      expect(await tasks.runDue()).toMatchObject({ succeeded: 1 });
      expect(await tasks.get(id)).toMatchObject({ progress: 1, progressMessage: 'step 60' });
      // One write at once, one per further second begun, and the last value at the end.
      expect(writes()).toBeGreaterThanOrEqual(2);
      expect(writes()).toBeLessThanOrEqual(Math.ceil(elapsedMs / 1000) + 1);
    });

    itOnlyOn(
      fixture,
      ['sqlite/better-sqlite3', 'postgres/pg'],
      `the retry under test is the worker’s timer, the same on every database; the writes it retries run through every driver in ${coveredBy('conformance/progress.test.ts', 'attemptSetProgress writes only while the run is held')}`,
    )(
      'a failed write is logged and tried again a second later, with no report after it',
      async () => {
        const release = deferred();
        const target = defineTarget('Flaky', {
          async work(_args: { n: number }, ctx: TaskContext) {
            ctx.progress(0.5, 'half');
            await release.promise;
          },
        });
        const { tasks, writes, warnings } = await countedTasks(harness(), target, 1);
        const worker = track(tasks.worker({ pollIntervalMs: 50 }));
        const { id } = await harness().transaction((tx) =>
          tasks.enqueue(tx, target.work, { n: 1 }),
        );
        await worker.start();
        await waitFor('the report to be written on the second try', async () => {
          const attempt = await tasks.get(id);
          return attempt?.progress === 0.5;
        });
        expect(await tasks.get(id)).toMatchObject({ status: 'running', progressMessage: 'half' });
        expect(writes()).toBe(2);
        expect(warnings).toEqual([expect.stringContaining('could not record progress')]);
        expect(warnings[0]).toContain('connection terminated unexpectedly');
        release.resolve();
        await waitFor('the run to succeed', async () => {
          const attempt = await tasks.get(id);
          return attempt?.status === 'succeeded';
        });
        expect(writes()).toBe(2);
      },
    );

    it('refuses fractions outside 0..1 and non-string messages, and cuts long messages', async () => {
      const refused: unknown[] = [];
      const target = defineTarget('Bad', {
        work(_args: { n: number }, ctx: TaskContext) {
          const bad: [unknown, unknown][] = [
            [Number.NaN, undefined],
            [1.5, undefined],
            [-0.1, undefined],
            [Number.POSITIVE_INFINITY, undefined],
            ['0.5', undefined],
            [0.5, 42],
          ];
          for (const [fraction, message] of bad) {
            try {
              (ctx.progress as (fraction: unknown, message: unknown) => void)(fraction, message);
            } catch (error) {
              refused.push(error);
            }
          }
          ctx.progress(0, 'é'.repeat(600));
        },
      });
      const tasks = new AsyncTask({
        driver: harness().driver,
        table: harness().table,
        targets: [target],
      });
      await tasks.migrate();
      const { id } = await harness().transaction((tx) => tasks.enqueue(tx, target.work, { n: 1 }));
      expect(await tasks.runDue()).toMatchObject({ succeeded: 1 });
      expect(refused).toHaveLength(6);
      for (const error of refused) {
        expect(error).toBeInstanceOf(ConfigError);
        expect(error).toMatchObject({ code: 'CONFIG' });
      }
      expect((refused[0] as Error).message).toMatch(/from 0 to 1.*not NaN/);
      const attempt = await tasks.get(id);
      expect(attempt).toMatchObject({ progress: 0, progressMessage: 'é'.repeat(500) });
    });

    it('attemptSetProgress writes only while the run is held; a lost lease changes nothing', async () => {
      const x = await executorHarness(harness(), fixture.dialect);
      await x.insert([{ maxAttempts: 3 }]);
      const [claimed] = (await x.run((e) => e.attemptClaim(claimParams('w1')))).records;
      const set = (record: AttemptRecord, lockedBy: string, progress: number) =>
        x.run((e) =>
          e.attemptSetProgress({
            id: record.id,
            numAttempts: record.numAttempts,
            lockedBy,
            progress,
            message: `at ${progress}`,
          }),
        );
      await set(claimed!, 'w1', 0.25);
      expect(await x.get(claimed!.id)).toMatchObject({
        progress: 0.25,
        progressMessage: 'at 0.25',
      });
      await set(claimed!, 'w2', 0.5); // another worker's name
      await set({ ...claimed!, numAttempts: claimed!.numAttempts + 1 }, 'w1', 0.5);
      expect(await x.get(claimed!.id)).toMatchObject({
        progress: 0.25,
        progressMessage: 'at 0.25',
      });

      // The lease runs out and the rescuer hands it back: the run's late write is fenced off, and
      // a pending attempt has no progress.
      await x.harness.expireLease(claimed!.id);
      expect(await x.run((e) => e.attemptRescueExpired(10))).toHaveLength(1);
      expect(await x.get(claimed!.id)).toMatchObject({ status: 'pending', progress: null });
      await set(claimed!, 'w1', 0.75);
      expect(await x.get(claimed!.id)).toMatchObject({ status: 'pending', progress: null });

      // Re-claimed by the same worker: the first run's write is still not this run's.
      const [again] = (await x.run((e) => e.attemptClaim(claimParams('w1')))).records;
      expect(again).toMatchObject({ numAttempts: 2, progress: null });
      await set(claimed!, 'w1', 0.75);
      expect((await x.get(again!.id)).progress).toBeNull();
      await set(again!, 'w1', 1);
      expect((await x.get(again!.id)).progress).toBe(1);
    });

    it('progress is cleared whenever an attempt goes back to pending, and kept when it ends', async () => {
      const x = await executorHarness(harness(), fixture.dialect);
      await x.insert([{}, {}, {}, {}, { maxAttempts: 1 }]);
      const claimed = (await x.run((e) => e.attemptClaim(claimParams('w1')))).records;
      expect(claimed).toHaveLength(5);
      for (const record of claimed) {
        await x.run((e) =>
          e.attemptSetProgress({ ...record, lockedBy: 'w1', progress: 0.5, message: 'half' }),
        );
      }
      const [retried, succeeded, failed, released, exhausted] = claimed as [
        AttemptRecord,
        AttemptRecord,
        AttemptRecord,
        AttemptRecord,
        AttemptRecord,
      ];
      const done = (record: AttemptRecord, status: 'succeeded' | 'failed' | 'pending') => ({
        id: record.id,
        numAttempts: record.numAttempts,
        status,
        delayMs: 0,
        error: null,
      });
      await x.run((e) =>
        e.attemptCompleteMany('w1', [
          done(retried, 'pending'),
          done(succeeded, 'succeeded'),
          done(failed, 'failed'),
        ]),
      );
      await x.run((e) => e.attemptReleaseMany('w1', [released]));
      await x.harness.expireLease(exhausted.id);
      await x.run((e) => e.attemptRescueExpired(10));

      const cleared = { progress: null, progressMessage: null };
      const kept = { progress: 0.5, progressMessage: 'half' };
      expect(await x.get(retried.id)).toMatchObject({ status: 'pending', ...cleared });
      expect(await x.get(succeeded.id)).toMatchObject({ status: 'succeeded', ...kept });
      expect(await x.get(failed.id)).toMatchObject({ status: 'failed', ...kept });
      expect(await x.get(released.id)).toMatchObject({ status: 'pending', ...cleared });
      expect(await x.get(exhausted.id)).toMatchObject({ status: 'failed', ...kept });

      expect(await x.run((e) => e.attemptSetPendingIfFinished(failed.id))).toMatchObject({
        status: 'pending',
        ...cleared,
      });
    });
  });
}
