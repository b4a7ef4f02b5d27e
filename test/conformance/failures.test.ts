// How attempts end badly: out of attempts, PermanentError, a target or method this deployment does
// not know, and an error hook that itself throws.
import { describe, expect, it } from 'vitest';
import { PermanentError, defineTarget, type TaskContext } from '../../src/index.js';
import { coveredBy, fixtures, itOnNativeDrivers } from '../harness/dialects.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { useHarness } from '../harness/use-harness.js';

for (const fixture of fixtures) {
  describe(fixture.label, () => {
    const harness = useHarness(fixture);
    const aboveDriver = itOnNativeDrivers(
      fixture,
      `the failure handling under test is the worker’s; every driver writes failures in ${coveredBy('conformance/failures.test.ts', 'fails an attempt after maxAttempts failures, with completedAt')} and ${coveredBy('conformance/failures.test.ts', 'schedules a retry far in the future when the backoff asks for it (30 days)')}`,
    );

    it('fails an attempt after maxAttempts failures, with completedAt', async () => {
      let runs = 0;
      const hooks: number[] = [];
      const flaky = defineTarget(
        'Flaky',
        {
          work(_args: { n: number }, ctx: TaskContext) {
            runs += 1;
            throw new Error(`failure ${ctx.attempt.numAttempts}`);
          },
        },
        { backoff: () => 0 },
      );
      const tasks = await migratedTasks(harness(), {
        targets: [flaky],
        onError: (_error, attempt) => {
          hooks.push(attempt.numAttempts);
        },
      });
      const { id } = await harness().transaction((tx) =>
        tasks.enqueue(tx, flaky.work, { n: 1 }, { maxAttempts: 3 }),
      );

      expect(await tasks.runDue()).toMatchObject({ claimed: 1, retried: 1, failed: 0 });
      expect(await tasks.get(id)).toMatchObject({ status: 'pending', numAttempts: 1 });
      expect(await tasks.runDue()).toMatchObject({ claimed: 1, retried: 1, failed: 0 });
      expect(await tasks.runDue()).toMatchObject({ claimed: 1, retried: 0, failed: 1 });

      const failed = await tasks.get(id);
      expect(failed).toMatchObject({
        status: 'failed',
        numAttempts: 3,
        maxAttempts: 3,
        lastError: 'Error: failure 3',
      });
      expect(failed?.completedAt).toBeInstanceOf(Date);
      expect(hooks).toEqual([1, 2, 3]);
      expect(await tasks.runDue()).toMatchObject({ claimed: 0 });
      expect(runs).toBe(3);
    });

    aboveDriver(
      'takes maxAttempts from the method, then the target, then the defaults',
      async () => {
        const target = defineTarget(
          'Limits',
          { a(_args: null) {}, b(_args: null) {} },
          { maxAttempts: 4, methods: { a: { maxAttempts: 2 } } },
        );
        const other = defineTarget('Plain', { c(_args: null) {} });
        const tasks = await migratedTasks(harness(), {
          targets: [target, other],
          defaults: { maxAttempts: 7 },
        });
        const [a, b, c, d] = await harness().transaction((tx) =>
          tasks.enqueueMany(tx, [
            { method: target.a, args: null },
            { method: target.b, args: null },
            { method: other.c, args: null },
            { method: target.a, args: null, options: { maxAttempts: 9 } },
          ]),
        );
        expect([a, b, c, d].map((attempt) => attempt?.maxAttempts)).toEqual([2, 4, 7, 9]);
      },
    );

    aboveDriver('fails at once on a PermanentError, after one attempt', async () => {
      const hooks: unknown[] = [];
      const target = defineTarget('Customers', {
        notify(args: { customerToken: string }) {
          throw new PermanentError(`customer ${args.customerToken} does not exist`);
        },
      });
      const tasks = await migratedTasks(harness(), {
        targets: [target],
        onError: (error) => {
          hooks.push(error);
        },
      });
      const { id } = await harness().transaction((tx) =>
        tasks.enqueue(tx, target.notify, { customerToken: 'c_404' }),
      );

      expect(await tasks.runDue()).toMatchObject({ claimed: 1, failed: 1, retried: 0 });

      const failed = await tasks.get(id);
      expect(failed).toMatchObject({
        status: 'failed',
        numAttempts: 1,
        maxAttempts: 25,
        lastError: 'PermanentError: customer c_404 does not exist',
      });
      expect(failed?.completedAt).toBeInstanceOf(Date);
      expect(hooks).toHaveLength(1);
      expect(hooks[0]).toBeInstanceOf(PermanentError);
    });

    aboveDriver('fails a row naming a target this AsyncTask does not know', async () => {
      const known = defineTarget('Inventory', { reserve(_args: { sku: string }) {} });
      const unrelated = defineTarget('Unrelated', { other(_args: null) {} });
      const writer = await migratedTasks(harness(), { targets: [known] });
      const reader = await migratedTasks(harness(), { targets: [unrelated] });
      const { id } = await harness().transaction((tx) =>
        writer.enqueue(tx, known.reserve, { sku: 'A-1' }),
      );

      expect(await reader.runDue()).toMatchObject({ claimed: 1, failed: 1 });

      const failed = await reader.get(id);
      expect(failed).toMatchObject({ status: 'failed', numAttempts: 1 });
      expect(failed?.lastError).toMatch(/^UnknownTargetError: /);
      expect(failed?.lastError).toContain('Inventory.reserve');
      expect(failed?.completedAt).toBeInstanceOf(Date);
    });

    aboveDriver('fails a row naming a method the target does not have here', async () => {
      const newer = defineTarget('Inventory', {
        reserve(_args: { sku: string }) {},
        release(_args: { sku: string }) {},
      });
      const older = defineTarget('Inventory', { reserve(_args: { sku: string }) {} });
      const writer = await migratedTasks(harness(), { targets: [newer] });
      const reader = await migratedTasks(harness(), { targets: [older] });
      const [release, reserve] = await harness().transaction((tx) =>
        writer.enqueueMany(tx, [
          { method: newer.release, args: { sku: 'A-1' } },
          { method: newer.reserve, args: { sku: 'A-1' } },
        ]),
      );

      expect(await reader.runDue()).toMatchObject({ claimed: 2, failed: 1, succeeded: 1 });

      // The target is there: the advice is about the method (it said to add the target).
      expect((await reader.get(release!.id))?.lastError).toBe(
        'UnknownTargetError: Inventory.release: target Inventory has no method "release" in this deployment (it has reserve); deploy the code that has it, then retry the attempt',
      );
      expect(await reader.get(reserve!.id)).toMatchObject({ status: 'succeeded' });
    });

    aboveDriver('carries on when onError throws or rejects', async () => {
      let hookCalls = 0;
      const target = defineTarget('Broken', {
        work(_args: { n: number }) {
          throw new Error('handler failed');
        },
      });
      const tasks = await migratedTasks(harness(), {
        targets: [target],
        onError: async (_error, attempt) => {
          hookCalls += 1;
          if (attempt.args !== null && (attempt.args as { n: number }).n % 2 === 0) {
            throw new Error('hook throws');
          }
          await Promise.resolve();
          return Promise.reject(new Error('hook rejects'));
        },
      });
      const attempts = await harness().transaction((tx) =>
        tasks.enqueueMany(
          tx,
          Array.from({ length: 4 }, (_, n) => ({ method: target.work, args: { n } })),
        ),
      );

      expect(await tasks.runDue()).toEqual({
        rescued: 0,
        claimed: 4,
        succeeded: 0,
        retried: 4,
        failed: 0,
        cancelled: 0,
        lost: 0,
      });

      expect(hookCalls).toBe(4);
      for (const { id } of attempts) {
        expect(await tasks.get(id)).toMatchObject({
          status: 'pending',
          numAttempts: 1,
          lastError: 'Error: handler failed',
        });
      }
    });

    aboveDriver('records a thrown non-Error value', async () => {
      const target = defineTarget('Odd', {
        work(_args: null) {
          // eslint-disable-next-line @typescript-eslint/only-throw-error
          throw 'plain string';
        },
      });
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const { id } = await harness().transaction((tx) => tasks.enqueue(tx, target.work, null));
      await tasks.runDue();
      expect(await tasks.get(id)).toMatchObject({
        status: 'pending',
        lastError: 'NonError: plain string',
      });
    });

    it('schedules a retry far in the future when the backoff asks for it (30 days)', async () => {
      const thirtyDays = 30 * 24 * 3_600_000;
      const target = defineTarget(
        'Patient',
        {
          work(_args: null) {
            throw new Error('later');
          },
        },
        { backoff: () => thirtyDays },
      );
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const { id } = await harness().transaction((tx) => tasks.enqueue(tx, target.work, null));

      const before = Date.now();
      expect(await tasks.runDue()).toMatchObject({ claimed: 1, retried: 1 });

      const stored = await tasks.get(id);
      expect(stored?.status).toBe('pending');
      expect(stored!.scheduledAt.getTime()).toBeGreaterThanOrEqual(before + thirtyDays);
      expect(stored!.scheduledAt.getTime()).toBeLessThan(Date.now() + thirtyDays + 1000);
    }, 10_000);
  });
}
