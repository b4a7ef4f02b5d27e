// The Ruby gem's own specs, on every dialect: scheduling, success, failure and the error hook,
// and the management transitions (expire!, fail!, retry) with their InvalidStateError.
import { describe, expect, it } from 'vitest';
import {
  InvalidStateError,
  defineTarget,
  type AsyncTask,
  type Attempt,
  type TaskContext,
} from '../../src/index.js';
import { caught } from '../harness/caught.js';
import { fixtures } from '../harness/dialects.js';
import type { Harness } from '../harness/fixture.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { useHarness } from '../harness/use-harness.js';

interface OrderArgs {
  orderNumber: number;
}

/** A target whose `fulfill` records each call and then runs `behaviour`. */
function ordersTarget(
  behaviour: (args: OrderArgs, ctx: TaskContext) => void | Promise<void> = () => undefined,
) {
  const calls: { args: OrderArgs; attempt: Attempt }[] = [];
  const target = defineTarget('OrderClient', {
    async fulfill(args: OrderArgs, ctx: TaskContext) {
      calls.push({ args, attempt: ctx.attempt });
      await behaviour(args, ctx);
    },
  });
  return { target, calls };
}

async function expectInvalidState(
  promise: Promise<unknown>,
  status: string | null,
  id: string,
): Promise<void> {
  const error = await caught(promise);
  expect(error).toBeInstanceOf(InvalidStateError);
  expect(error).toMatchObject({ code: 'INVALID_STATE', name: 'InvalidStateError', status });
  expect((error as InvalidStateError).attemptId).toBe(id);
}

async function enqueueOne(
  harness: Harness,
  enqueue: (tx: unknown) => Promise<Attempt>,
): Promise<Attempt> {
  return harness.transaction(enqueue);
}

for (const fixture of fixtures) {
  describe(fixture.label, () => {
    const harness = useHarness(fixture);

    it('does not run a task scheduled in the future, nor count an attempt for it', async () => {
      const { target, calls } = ordersTarget();
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const later = await enqueueOne(harness(), (tx) =>
        tasks.enqueue(
          tx,
          target.fulfill,
          { orderNumber: 1 },
          { scheduledAt: new Date(Date.now() + 3_600_000) },
        ),
      );
      const now = await enqueueOne(harness(), (tx) =>
        tasks.enqueue(tx, target.fulfill, { orderNumber: 2 }),
      );

      const result = await tasks.runDue();

      expect(result).toEqual({
        rescued: 0,
        claimed: 1,
        succeeded: 1,
        retried: 0,
        failed: 0,
        cancelled: 0,
        lost: 0,
      });
      expect(calls.map((call) => call.attempt.id)).toEqual([now.id]);
      const stored = await tasks.get(later.id);
      expect(stored).toMatchObject({ status: 'pending', numAttempts: 0, completedAt: null });
      expect(stored?.scheduledAt.getTime()).toBe(later.scheduledAt.getTime());
    });

    it('enqueues a method without parameters with no arguments, alone, with options and in a batch', async () => {
      let runs = 0;
      const target = defineTarget('Nightly', {
        report() {
          runs += 1;
        },
      });
      const tasks = await migratedTasks(harness(), { targets: [target] });

      const attempts = await harness().transaction(async (tx) => [
        await tasks.enqueue(tx, target.report),
        await tasks.enqueue(tx, target.report, undefined, { queue: 'nightly' }),
        ...(await tasks.enqueueMany(tx, [{ method: target.report }])),
      ]);

      expect(attempts.map((a) => [a.args, a.queue])).toEqual([
        [undefined, 'default'],
        [undefined, 'nightly'],
        [undefined, 'default'],
      ]);
      expect(await tasks.runDue()).toMatchObject({ claimed: 3, succeeded: 3 });
      expect(runs).toBe(3);
    });

    it('marks a successful attempt succeeded, with completedAt, counting the attempt', async () => {
      const { target, calls } = ordersTarget();
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const enqueued = await enqueueOne(harness(), (tx) =>
        tasks.enqueue(tx, target.fulfill, { orderNumber: 7355608 }),
      );
      expect(enqueued).toMatchObject({
        status: 'pending',
        target: 'OrderClient',
        methodName: 'fulfill',
        args: { orderNumber: 7355608 },
        encryptor: null,
        numAttempts: 0,
        maxAttempts: 25,
        queue: 'default',
        priority: 0,
        idempotenceToken: null,
        completedAt: null,
        lastError: null,
      });
      expect(enqueued.id).toMatch(/^[1-9][0-9]*$/);

      const before = Date.now();
      const result = await tasks.runDue();

      expect(result).toEqual({
        rescued: 0,
        claimed: 1,
        succeeded: 1,
        retried: 0,
        failed: 0,
        cancelled: 0,
        lost: 0,
      });
      expect(calls).toHaveLength(1);
      expect(calls[0]?.args).toEqual({ orderNumber: 7355608 });
      expect(calls[0]?.attempt).toMatchObject({
        id: enqueued.id,
        status: 'running',
        numAttempts: 1,
        args: { orderNumber: 7355608 },
      });
      const done = await tasks.get(enqueued.id);
      expect(done).toMatchObject({ status: 'succeeded', numAttempts: 1, lastError: null });
      expect(done?.completedAt).toBeInstanceOf(Date);
      expect(done?.completedAt?.getTime()).toBeGreaterThanOrEqual(before - 1000);
      expect(done?.updatedAt.getTime()).toBeGreaterThanOrEqual(done!.createdAt.getTime());
    });

    it('on a handler error: counts the attempt, calls onError with it, reschedules ≥ 1 s later', async () => {
      const thrown = new Error('card declined');
      const { target, calls } = ordersTarget(() => {
        throw thrown;
      });
      const hookCalls: { error: unknown; attempt: Attempt }[] = [];
      const tasks = await migratedTasks(harness(), {
        targets: [target],
        onError: (error, attempt) => {
          hookCalls.push({ error, attempt });
        },
      });
      const enqueued = await enqueueOne(harness(), (tx) =>
        tasks.enqueue(tx, target.fulfill, { orderNumber: 8 }),
      );

      const before = Date.now();
      const result = await tasks.runDue();

      expect(result).toEqual({
        rescued: 0,
        claimed: 1,
        succeeded: 0,
        retried: 1,
        failed: 0,
        cancelled: 0,
        lost: 0,
      });
      expect(calls).toHaveLength(1);
      expect(hookCalls).toHaveLength(1);
      expect(hookCalls[0]?.error).toBe(thrown);
      expect(hookCalls[0]?.attempt).toMatchObject({
        id: enqueued.id,
        target: 'OrderClient',
        methodName: 'fulfill',
        numAttempts: 1,
        args: { orderNumber: 8 },
      });
      const stored = await tasks.get(enqueued.id);
      expect(stored).toMatchObject({
        status: 'pending',
        numAttempts: 1,
        completedAt: null,
        lastError: 'Error: card declined',
      });
      expect(stored!.scheduledAt.getTime()).toBeGreaterThanOrEqual(before + 1000);

      // Not due yet, so another pass leaves it alone.
      expect(await tasks.runDue()).toMatchObject({ claimed: 0 });
      expect(calls).toHaveLength(1);
    });

    it('keeps lastError after a later success', async () => {
      const { target } = ordersTarget((_args, ctx) => {
        if (ctx.attempt.numAttempts === 1) throw new TypeError('first try fails');
      });
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const enqueued = await enqueueOne(harness(), (tx) =>
        tasks.enqueue(tx, target.fulfill, { orderNumber: 9 }),
      );
      await tasks.runDue();
      await harness().makeDue(enqueued.id);
      expect(await tasks.runDue()).toMatchObject({ claimed: 1, succeeded: 1 });
      expect(await tasks.get(enqueued.id)).toMatchObject({
        status: 'succeeded',
        numAttempts: 2,
        lastError: 'TypeError: first try fails',
      });
    });

    it('expire and fail a pending attempt, setting completedAt', async () => {
      const { target } = ordersTarget();
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const [a, b] = await harness().transaction((tx) =>
        Promise.all([
          tasks.enqueue(tx, target.fulfill, { orderNumber: 1 }),
          tasks.enqueue(tx, target.fulfill, { orderNumber: 2 }),
        ]),
      );

      const expired = await tasks.expire(a.id);
      const failed = await tasks.fail(b.id);

      expect(expired).toMatchObject({ id: a.id, status: 'expired', numAttempts: 0 });
      expect(expired.completedAt).toBeInstanceOf(Date);
      expect(failed).toMatchObject({ id: b.id, status: 'failed', numAttempts: 0 });
      expect(failed.completedAt).toBeInstanceOf(Date);
      expect(await tasks.get(a.id)).toEqual(expired);
      expect(await tasks.get(b.id)).toEqual(failed);
      // Neither runs any more.
      expect(await tasks.runDue()).toMatchObject({ claimed: 0 });
    });

    it('refuses expire and fail on a finished attempt, leaving the row unchanged', async () => {
      const { target } = ordersTarget();
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const enqueued = await enqueueOne(harness(), (tx) =>
        tasks.enqueue(tx, target.fulfill, { orderNumber: 3 }),
      );
      await tasks.runDue();
      const succeeded = await tasks.get(enqueued.id);
      expect(succeeded?.status).toBe('succeeded');

      await expectInvalidState(tasks.expire(enqueued.id), 'succeeded', enqueued.id);
      await expectInvalidState(tasks.fail(enqueued.id), 'succeeded', enqueued.id);
      expect(await tasks.get(enqueued.id)).toEqual(succeeded);

      const other = await enqueueOne(harness(), (tx) =>
        tasks.enqueue(tx, target.fulfill, { orderNumber: 4 }),
      );
      const expired = await tasks.expire(other.id);
      await expectInvalidState(tasks.fail(other.id), 'expired', other.id);
      await expectInvalidState(tasks.expire(other.id), 'expired', other.id);
      expect(await tasks.get(other.id)).toEqual(expired);
    });

    it('refuses expire and fail on a running attempt', async () => {
      const errors: unknown[] = [];
      // The handler needs the AsyncTask that is built from its target: filled in below.
      const late = {} as { tasks: AsyncTask<unknown, unknown> };
      const { target } = ordersTarget(async (_args, ctx) => {
        errors.push(await caught(late.tasks.expire(ctx.attempt.id)));
        errors.push(await caught(late.tasks.fail(ctx.attempt.id)));
      });
      const tasks = await migratedTasks(harness(), { targets: [target] });
      late.tasks = tasks;
      const enqueued = await enqueueOne(harness(), (tx) =>
        tasks.enqueue(tx, target.fulfill, { orderNumber: 5 }),
      );

      expect(await tasks.runDue()).toMatchObject({ succeeded: 1 });

      expect(errors).toHaveLength(2);
      for (const error of errors) {
        expect(error).toBeInstanceOf(InvalidStateError);
        expect(error).toMatchObject({ code: 'INVALID_STATE', status: 'running' });
      }
      expect(await tasks.get(enqueued.id)).toMatchObject({ status: 'succeeded', numAttempts: 1 });
    });

    it('retries a failed attempt: back to pending, and an exhausted one gets one more run', async () => {
      const { target, calls } = ordersTarget((_args, ctx) => {
        if (ctx.attempt.numAttempts === 1) throw new Error('down');
      });
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const enqueued = await enqueueOne(harness(), (tx) =>
        tasks.enqueue(tx, target.fulfill, { orderNumber: 6 }, { maxAttempts: 1 }),
      );
      expect(await tasks.runDue()).toMatchObject({ failed: 1 });
      const failed = await tasks.get(enqueued.id);
      expect(failed).toMatchObject({ status: 'failed', numAttempts: 1, maxAttempts: 1 });

      const retried = await tasks.retry(enqueued.id);

      expect(retried).toMatchObject({
        id: enqueued.id,
        status: 'pending',
        numAttempts: 1,
        maxAttempts: 2,
        completedAt: null,
        lastError: 'Error: down',
      });
      expect(await tasks.get(enqueued.id)).toEqual(retried);
      expect(await tasks.runDue()).toMatchObject({ claimed: 1, succeeded: 1 });
      expect(calls).toHaveLength(2);
      expect(await tasks.get(enqueued.id)).toMatchObject({ status: 'succeeded', numAttempts: 2 });
    });

    it('retries an expired attempt, leaving maxAttempts alone when attempts remain', async () => {
      const { target, calls } = ordersTarget();
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const enqueued = await enqueueOne(harness(), (tx) =>
        tasks.enqueue(tx, target.fulfill, { orderNumber: 10 }, { maxAttempts: 3 }),
      );
      await tasks.expire(enqueued.id);

      const retried = await tasks.retry(enqueued.id);

      expect(retried).toMatchObject({
        status: 'pending',
        numAttempts: 0,
        maxAttempts: 3,
        completedAt: null,
      });
      expect(await tasks.runDue()).toMatchObject({ succeeded: 1 });
      expect(calls).toHaveLength(1);
    });

    it('refuses retry on a pending or succeeded attempt, leaving the row unchanged', async () => {
      const { target } = ordersTarget();
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const enqueued = await enqueueOne(harness(), (tx) =>
        tasks.enqueue(tx, target.fulfill, { orderNumber: 11 }),
      );
      const pending = await tasks.get(enqueued.id);

      await expectInvalidState(tasks.retry(enqueued.id), 'pending', enqueued.id);
      expect(await tasks.get(enqueued.id)).toEqual(pending);

      await tasks.runDue();
      const succeeded = await tasks.get(enqueued.id);
      await expectInvalidState(tasks.retry(enqueued.id), 'succeeded', enqueued.id);
      expect(await tasks.get(enqueued.id)).toEqual(succeeded);
    });

    it('answers an unknown id with null from get and InvalidStateError (status null) from transitions', async () => {
      const { target } = ordersTarget();
      const tasks = await migratedTasks(harness(), { targets: [target] });
      for (const id of ['987654321', '9223372036854775807', '0', 'abc', '-1', '1e3', '']) {
        expect(await tasks.get(id)).toBeNull();
        await expectInvalidState(tasks.expire(id), null, id);
        await expectInvalidState(tasks.fail(id), null, id);
        await expectInvalidState(tasks.retry(id), null, id);
      }
    });
  });
}
