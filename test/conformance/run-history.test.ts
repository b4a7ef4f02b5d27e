// The run history on every fixture: each run that does not succeed leaves one entry (number,
// worker, start and end, outcome, error) in `attempt.runs`, the last 20 kept; a rescued lease
// leaves one with no start; a cancelled run says so; an encrypted task's entries carry no
// argument text; a run that succeeds writes no history at all.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/core/attempt.js';
import { aesGcmEncryptor, defineTarget, type TaskContext } from '../../src/index.js';
import { coveredBy, fixtures, itOnNativeDrivers } from '../harness/dialects.js';
import { claimParams, executorHarness } from '../harness/executor-harness.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { quotedTable, rawQuery } from '../harness/schema-catalog.js';
import { useHarness } from '../harness/use-harness.js';
import { useWorkers } from '../harness/use-workers.js';
import { waitFor } from '../harness/wait-for.js';

/** A target whose `work` fails its first `failures` runs, then succeeds. */
function flakyTarget(failures: number) {
  return defineTarget(
    'Flaky',
    {
      work(_args: { card: string }, ctx: TaskContext) {
        if (ctx.attempt.numAttempts <= failures) {
          throw new Error(`failure ${ctx.attempt.numAttempts}`);
        }
      },
    },
    { backoff: () => 0 },
  );
}

function expectTimed(run: RunRecord | undefined, before: number, after: number): void {
  expect(run?.startedAt).toBeInstanceOf(Date);
  expect(run?.endedAt).toBeInstanceOf(Date);
  const started = run!.startedAt!.getTime();
  const ended = run!.endedAt.getTime();
  expect(started).toBeLessThanOrEqual(ended);
  // Worker clock: within the test's own bounds (a millisecond of rounding either side).
  expect(started).toBeGreaterThanOrEqual(before - 1);
  expect(ended).toBeLessThanOrEqual(after + 1);
}

for (const fixture of fixtures) {
  describe(fixture.label, () => {
    const harness = useHarness(fixture);
    const track = useWorkers();
    const aboveDriver = itOnNativeDrivers(
      fixture,
      `the entries under test are built by the dialect's statements; every driver writes and reads them back in ${coveredBy('conformance/run-history.test.ts', 'a task that fails twice then succeeds keeps two entries')}`,
    );

    it('a task that fails twice then succeeds keeps two entries, by its worker, and ends succeeded', async () => {
      const target = flakyTarget(2);
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const worker = track(tasks.worker({ id: 'history-worker', pollIntervalMs: 20 }));
      const before = Date.now();
      const { id } = await harness().transaction((tx) =>
        tasks.enqueue(tx, target.work, { card: 'x' }, { maxAttempts: 5 }),
      );
      await worker.start();
      await waitFor(
        'the task to succeed',
        async () => (await tasks.get(id))?.status === 'succeeded',
        15_000,
      );
      await worker.stop();
      const after = Date.now();

      const attempt = await tasks.get(id);
      expect(attempt).toMatchObject({ status: 'succeeded', numAttempts: 3 });
      expect(attempt?.runs).toHaveLength(2);
      expect(attempt?.runs.map(({ n, by, outcome, error }) => ({ n, by, outcome, error }))).toEqual(
        [
          { n: 1, by: 'history-worker', outcome: 'retried', error: 'Error: failure 1' },
          { n: 2, by: 'history-worker', outcome: 'retried', error: 'Error: failure 2' },
        ],
      );
      for (const run of attempt!.runs) expectTimed(run, before, after);
      expect(attempt!.runs[0]!.endedAt.getTime()).toBeLessThanOrEqual(
        attempt!.runs[1]!.startedAt!.getTime(),
      );
      // list() reads the same history.
      expect((await tasks.list({}))[0]?.runs).toEqual(attempt?.runs);
      // Stored in whole milliseconds, as the entries the database writes are.
      const [stored] = await rawQuery(
        harness(),
        `SELECT runs FROM ${quotedTable(harness(), fixture.dialect)}`,
      );
      const text =
        typeof stored?.['runs'] === 'string' ? stored['runs'] : JSON.stringify(stored?.['runs']);
      expect(text).toMatch(/"startedAt":\s*\d+/);
      expect(text).not.toMatch(/"(startedAt|endedAt)":\s*\d+\./);
    });

    aboveDriver(
      'a task that exhausts maxAttempts ends with a failed entry, its last error',
      async () => {
        const target = flakyTarget(10);
        const tasks = await migratedTasks(harness(), { targets: [target] });
        const { id } = await harness().transaction((tx) =>
          tasks.enqueue(tx, target.work, { card: 'x' }, { maxAttempts: 2 }),
        );
        await tasks.runDue();
        await tasks.runDue();

        const attempt = await tasks.get(id);
        expect(attempt).toMatchObject({ status: 'failed', lastError: 'Error: failure 2' });
        expect(attempt?.runs.map(({ n, outcome, error }) => ({ n, outcome, error }))).toEqual([
          { n: 1, outcome: 'retried', error: 'Error: failure 1' },
          { n: 2, outcome: 'failed', error: 'Error: failure 2' },
        ]);
        expect(attempt?.runs[1]?.by).toEqual(expect.any(String));
      },
    );

    aboveDriver(
      'a rescued lease records "lease expired" with no start, ended by the database clock',
      async () => {
        const target = flakyTarget(0);
        const tasks = await migratedTasks(harness(), { targets: [target] });
        const x = await executorHarness(harness(), fixture.dialect);
        const { id } = await harness().transaction((tx) =>
          tasks.enqueue(tx, target.work, { card: 'x' }),
        );
        await x.run((e) => e.attemptClaim(claimParams('gone-worker')));
        await harness().expireLease(id);
        const before = Date.now();
        const rescued = await x.run((e) => e.attemptRescueExpired(10));
        const after = Date.now();
        expect(rescued.map((r) => r.runs)).toEqual([(await x.get(id)).runs]);

        const attempt = await tasks.get(id);
        expect(attempt?.status).toBe('pending');
        expect(attempt?.runs).toHaveLength(1);
        expect(attempt?.runs[0]).toMatchObject({
          n: 1,
          by: 'gone-worker',
          startedAt: null,
          outcome: 'lease expired',
          error: 'LeaseExpired: the lease of worker gone-worker ran out before it finished',
        });
        // The database's clock (SQLite's is this process's): near the test's, allowing for skew.
        expect(Math.abs(attempt!.runs[0]!.endedAt.getTime() - (before + after) / 2)).toBeLessThan(
          60_000,
        );

        // The next run succeeds: the history stays as it was.
        expect(await tasks.runDue()).toMatchObject({ succeeded: 1 });
        expect((await tasks.get(id))?.runs).toEqual(attempt?.runs);
      },
    );

    aboveDriver('a cancelled running task records "cancelled"', async () => {
      let started = false;
      const target = defineTarget('Cancellable', {
        async work(_args: { card: string }, ctx: TaskContext) {
          started = true;
          await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
        },
      });
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const worker = track(
        tasks.worker({ id: 'cancel-worker', pollIntervalMs: 20, heartbeatMs: 200 }),
      );
      const { id } = await harness().transaction((tx) =>
        tasks.enqueue(tx, target.work, { card: 'x' }),
      );
      await worker.start();
      await waitFor('the handler to start', () => started, 10_000);
      await tasks.cancel(id);
      await waitFor(
        'the task to end expired',
        async () => (await tasks.get(id))?.status === 'expired',
        10_000,
      );
      await worker.stop();

      const attempt = await tasks.get(id);
      expect(attempt?.runs).toHaveLength(1);
      expect(attempt?.runs[0]).toMatchObject({
        n: 1,
        by: 'cancel-worker',
        outcome: 'cancelled',
        error: 'Cancelled',
      });
      expect(attempt?.runs[0]?.startedAt).toBeInstanceOf(Date);
    });

    aboveDriver('more than 20 failures keep exactly the last 20', async () => {
      const target = flakyTarget(100);
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const { id } = await harness().transaction((tx) =>
        tasks.enqueue(tx, target.work, { card: 'x' }, { maxAttempts: 23 }),
      );
      for (let i = 0; i < 23; i++) await tasks.runDue();

      const attempt = await tasks.get(id);
      expect(attempt).toMatchObject({ status: 'failed', numAttempts: 23 });
      expect(attempt?.runs.map((run) => run.n)).toEqual(
        Array.from({ length: 20 }, (_, i) => i + 4),
      );
      expect(attempt?.runs.at(-1)).toMatchObject({ outcome: 'failed', error: 'Error: failure 23' });
      expect(attempt?.runs[0]).toMatchObject({ outcome: 'retried', error: 'Error: failure 4' });
    });

    aboveDriver("an encrypted task's entries carry no argument text, stored or shown", async () => {
      const secret = 'card-4111-1111-1111-1111';
      const target = defineTarget(
        'Payments',
        {
          charge(args: { card: string }) {
            throw new Error(`declined ${args.card}`);
          },
        },
        { backoff: () => 0 },
      );
      const tasks = await migratedTasks(harness(), {
        targets: [target],
        encryptors: { aes: aesGcmEncryptor({ keys: { k1: randomBytes(32) }, current: 'k1' }) },
      });
      const x = await executorHarness(harness(), fixture.dialect);
      const { id } = await harness().transaction((tx) =>
        tasks.enqueue(tx, target.charge, { card: secret }, { encryptor: 'aes', maxAttempts: 2 }),
      );
      await tasks.runDue();
      await tasks.runDue();

      const stored = await x.get(id);
      expect(stored.runs).toHaveLength(2);
      expect(JSON.stringify(stored.runs)).not.toContain('4111');
      const attempt = await tasks.get(id);
      expect(attempt?.runs.map((run) => run.error)).toEqual([
        'Error: [encrypted]',
        'Error: [encrypted]',
      ]);
      expect(JSON.stringify(await tasks.list({}))).not.toContain('4111');
      // The operator's explicit action still reads the message.
      expect(await tasks.decryptLastError(id)).toBe(`Error: declined ${secret}`);
    });

    aboveDriver('a run that succeeds the first time writes no history', async () => {
      const target = flakyTarget(0);
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const x = await executorHarness(harness(), fixture.dialect);
      const { id } = await harness().transaction((tx) =>
        tasks.enqueue(tx, target.work, { card: 'x' }),
      );
      expect(await tasks.runDue()).toMatchObject({ succeeded: 1 });

      // Nothing stored (the column is NULL), and the attempt shows an empty history.
      expect((await x.get(id)).runs).toBeUndefined();
      expect((await tasks.get(id))?.runs).toEqual([]);
    });
  });
}
