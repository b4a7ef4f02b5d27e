// async-task/testing on one client per dialect: drain (follows what runs enqueue, stops an
// endless chain at maxRuns, runs each attempt once), advanceTime (backoff and scheduledAt),
// enqueued and expectEnqueued (partial args, typed, readable failures). The inline mode, which
// depends on each client's transactions, runs on every fixture in testing-inline.test.ts.
import { processError } from '@vitest/utils/error';
import { describe, expect, it } from 'vitest';
import {
  aesGcmEncryptor,
  defineTarget,
  type AsyncTask,
  type TaskContext,
} from '../../src/index.js';
import {
  advanceTime,
  drain,
  DrainLimitError,
  EnqueuedAssertionError,
  enqueued,
  expectEnqueued,
  runInline,
} from '../../src/testing/index.js';
import { fixtures } from '../harness/dialects.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { useHarness } from '../harness/use-harness.js';

/** One client per dialect: the helpers go through the seam, the same on every client. */
const perDialect = fixtures.filter((fixture) =>
  ['postgres/pg', 'mysql/mysql2', 'sqlite/better-sqlite3'].includes(fixture.label),
);

const Mailer = defineTarget('Mailer', {
  send(_args: { to: string; subject: string; tags?: string[] }) {},
});

/** Mailer, with an encryptor for the attempts whose arguments must never be quoted. */
const mailerOptions = {
  targets: [Mailer],
  encryptors: { aes: aesGcmEncryptor({ keys: { k1: 'a'.repeat(64) }, current: 'k1' }) },
};

/** What `expectEnqueued` throws, or a failure when it does not. */
async function assertionOf(promise: Promise<unknown>): Promise<EnqueuedAssertionError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(EnqueuedAssertionError);
  return error as EnqueuedAssertionError;
}

for (const fixture of perDialect) {
  describe(`async-task/testing on ${fixture.label}`, () => {
    const harness = useHarness(fixture);

    it('drain runs what is due and what those runs enqueue, in order, and reports each run', async () => {
      const order: number[] = [];
      let failures = 1;
      const Chain = defineTarget('Chain', {
        async step(args: { n: number }, ctx: TaskContext) {
          order.push(args.n);
          if (args.n === 2 && failures-- > 0) throw new Error('step 2 went wrong');
          if (args.n < 4) {
            await ctx.transaction((tx) => tasks.enqueue(tx, Chain.step, { n: args.n + 1 }));
          }
        },
      });
      const tasks = await migratedTasks(harness(), { targets: [Chain] });
      await harness().transaction((tx) => tasks.enqueue(tx, Chain.step, { n: 1 }));

      const result = await drain(tasks);

      // Step 2 fails before enqueueing step 3: the chain stops there, and its retry waits out
      // its backoff (at least a second), so it is not run again in this drain.
      expect(order).toEqual([1, 2]);
      expect(result).toMatchObject({ succeeded: 1, retried: 1, failed: 0, rescued: 0 });
      expect(
        result.runs.map((run) => [run.method, run.args, run.outcome, run.numAttempts]),
      ).toEqual([
        ['step', { n: 1 }, 'succeeded', 1],
        ['step', { n: 2 }, 'retried', 1],
      ]);
      expect(result.runs[1]!.error).toEqual(new Error('step 2 went wrong'));
      expect(result.runs[0]!.target).toBe('Chain');

      // advanceTime brings the retry forward; the next drain runs it and the rest of the chain.
      expect(await drain(tasks)).toMatchObject({ runs: [] });
      expect(await advanceTime(tasks, 3_600_000)).toBe(1);
      order.length = 0;
      const rest = await drain(tasks);
      expect(order).toEqual([2, 3, 4]);
      expect(rest.runs.map((run) => [run.args, run.outcome, run.numAttempts])).toEqual([
        [{ n: 2 }, 'succeeded', 2],
        [{ n: 3 }, 'succeeded', 1],
        [{ n: 4 }, 'succeeded', 1],
      ]);
    });

    it('drain follows a chain of enqueues to its end', async () => {
      const order: number[] = [];
      const Chain = defineTarget('Chain', {
        async step(args: { n: number }, ctx: TaskContext) {
          order.push(args.n);
          if (args.n < 5) {
            await ctx.transaction((tx) => tasks.enqueue(tx, Chain.step, { n: args.n + 1 }));
          }
        },
      });
      const tasks = await migratedTasks(harness(), { targets: [Chain] });
      await harness().transaction((tx) =>
        tasks.enqueueMany(tx, [
          { method: Chain.step, args: { n: 1 } },
          { method: Chain.step, args: { n: 4 }, options: { priority: 1 } },
        ]),
      );

      const result = await drain(tasks);

      // Priority first (lower runs first), then due time: 1 → 2 → 3 → 4 → 5 before the other 4.
      expect(order).toEqual([1, 2, 3, 4, 5, 4, 5]);
      expect(result.succeeded).toBe(7);
      expect(await tasks.list({ status: 'pending' })).toEqual([]);
      expect(await drain(tasks)).toMatchObject({ runs: [], succeeded: 0 });
    });

    it('drain stops an endless chain at maxRuns with a DrainLimitError, leaving the rest pending', async () => {
      let runs = 0;
      const Forever = defineTarget('Forever', {
        async loop(args: { n: number }, ctx: TaskContext) {
          runs += 1;
          await ctx.transaction((tx) => tasks.enqueue(tx, Forever.loop, { n: args.n + 1 }));
        },
      });
      const tasks = await migratedTasks(harness(), { targets: [Forever] });
      await harness().transaction((tx) => tasks.enqueue(tx, Forever.loop, { n: 1 }));

      const error = await drain(tasks, { maxRuns: 5 }).catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(DrainLimitError);
      const limit = error as DrainLimitError;
      expect(limit.code).toBe('DRAIN_LIMIT');
      expect(limit.message).toMatch(/maxRuns \(5\)/);
      expect(limit.message).toMatch(/Forever\.loop/);
      expect(limit.result.runs.map((run) => run.args)).toEqual([1, 2, 3, 4, 5].map((n) => ({ n })));
      expect(runs).toBe(5);
      // The sixth is pending again, untouched: the check that found it handed it back.
      const pending = await tasks.list({ status: 'pending' });
      expect(pending.map((a) => [a.args, a.numAttempts])).toEqual([[{ n: 6 }, 0]]);
      expect(await tasks.list({ status: 'running' })).toEqual([]);
    });

    it('drain runs an attempt at most once, even when its retry is due at once', async () => {
      let runs = 0;
      const Flaky = defineTarget(
        'Flaky',
        {
          work(_args: null) {
            runs += 1;
            throw new Error('nope');
          },
          after(_args: null) {},
        },
        { backoff: () => 0, maxAttempts: 3 },
      );
      const tasks = await migratedTasks(harness(), { targets: [Flaky] });
      const { id } = await harness().transaction(async (tx) => {
        const first = await tasks.enqueue(tx, Flaky.work, null);
        await tasks.enqueue(tx, Flaky.after, null);
        return first;
      });

      // The retry is due at once and first in line: held back, it does not block what follows.
      expect((await drain(tasks)).runs.map((run) => [run.method, run.outcome])).toEqual([
        ['work', 'retried'],
        ['after', 'succeeded'],
      ]);
      expect(runs).toBe(1);
      // Claimed again and handed back unrun: no run counted, nothing left running.
      expect(await tasks.get(id)).toMatchObject({ status: 'pending', numAttempts: 1 });
      expect((await drain(tasks)).runs.map((run) => run.outcome)).toEqual(['retried']);
      expect((await drain(tasks)).runs.map((run) => run.outcome)).toEqual(['failed']);
      expect(runs).toBe(3);
    });

    it('advanceTime brings a scheduled attempt and a backoff retry forward', async () => {
      const ran: string[] = [];
      let failOnce = true;
      const Jobs = defineTarget('Jobs', {
        later(_args: null) {
          ran.push('later');
        },
        flaky(_args: null) {
          ran.push('flaky');
          if (failOnce) {
            failOnce = false;
            throw new Error('first run fails');
          }
        },
      });
      const tasks = await migratedTasks(harness(), { targets: [Jobs] });
      await harness().transaction(async (tx) => {
        await tasks.enqueue(tx, Jobs.later, null, {
          scheduledAt: new Date(Date.now() + 3_600_000),
        });
        await tasks.enqueue(tx, Jobs.flaky, null);
      });

      expect((await drain(tasks)).runs.map((run) => run.outcome)).toEqual(['retried']);
      expect(ran).toEqual(['flaky']);
      expect(await drain(tasks)).toMatchObject({ runs: [] });

      // The retry's backoff is about a second: a minute brings it forward, not the hour-away one.
      expect(await advanceTime(tasks, 60_000)).toBe(2);
      expect((await drain(tasks)).runs.map((run) => [run.method, run.outcome])).toEqual([
        ['flaky', 'succeeded'],
      ]);
      expect(await advanceTime(tasks, 3_600_000)).toBe(1);
      expect((await drain(tasks)).runs.map((run) => run.method)).toEqual(['later']);
      expect(ran).toEqual(['flaky', 'flaky', 'later']);
      await expect(advanceTime(tasks, -1)).rejects.toThrow(/whole number of milliseconds/);
      // Three thousand years overflowed MySQL's DATETIME as a raw DatabaseError.
      await expect(advanceTime(tasks, 3000 * 365 * 86_400_000)).rejects.toThrow(
        /advanceTime: ms must be a whole number of milliseconds from 0 to 3153600000000 \(100 years\)/,
      );
    });

    it('drain takes only the queues asked for', async () => {
      const ran: string[] = [];
      const Q = defineTarget('Q', {
        work(args: { name: string }) {
          ran.push(args.name);
        },
      });
      const tasks = await migratedTasks(harness(), { targets: [Q] });
      await harness().transaction((tx) =>
        tasks.enqueueMany(tx, [
          { method: Q.work, args: { name: 'mail' }, options: { queue: 'mail' } },
          { method: Q.work, args: { name: 'other' } },
        ]),
      );
      expect((await drain(tasks, { queues: ['mail'] })).runs.map((run) => run.queue)).toEqual([
        'mail',
      ]);
      expect(ran).toEqual(['mail']);
      await expect(drain(tasks, { maxRuns: 0 })).rejects.toThrow(/maxRuns must be an integer/);
    });

    it("drain and runInline's idle() run everything due in queues with concurrency and key limits of 1", async () => {
      const ran: string[] = [];
      const Q = defineTarget('Q', {
        work(args: { name: string }) {
          ran.push(args.name);
        },
      });
      const tasks = await migratedTasks(harness(), {
        targets: [Q],
        queues: { one: { concurrency: 1 }, keyed: { keyConcurrency: 1 } },
      });
      const enqueueFive = (queue: string, round: string) =>
        harness().transaction((tx) =>
          tasks.enqueueMany(
            tx,
            Array.from({ length: 5 }, (_, n) => ({
              method: Q.work,
              args: { name: `${round}-${queue}-${n}` },
              options: { queue, concurrencyKey: 'customer:1' },
            })),
          ),
        );
      await enqueueFive('one', 'drain');
      await enqueueFive('keyed', 'drain');

      // Each run's outcome is written before the next claim: unwritten, the finished run still
      // filled the queue's one slot, and the drain ended after one run per queue.
      const result = await drain(tasks);
      expect(result).toMatchObject({ succeeded: 10, retried: 0, failed: 0 });
      expect(ran.toSorted()).toEqual(
        ['keyed', 'one'].flatMap((queue) => [0, 1, 2, 3, 4].map((n) => `drain-${queue}-${n}`)),
      );

      const inline = runInline(tasks);
      try {
        await enqueueFive('one', 'inline');
        await enqueueFive('keyed', 'inline');
        await inline.idle();
        expect(ran.filter((name) => name.startsWith('inline-'))).toHaveLength(10);
      } finally {
        await inline.stop();
      }
      expect(await tasks.list({ status: 'pending' })).toEqual([]);
    });

    it('drain reports a run that a cancel request ended while it ran as cancelled, as it was written', async () => {
      const Cancelling = defineTarget('Cancelling', {
        async work(_args: { n: number }, ctx: TaskContext) {
          await tasks.cancel(ctx.attempt.id);
        },
      });
      const tasks = await migratedTasks(harness(), { targets: [Cancelling] });
      const { id } = await harness().transaction((tx) =>
        tasks.enqueue(tx, Cancelling.work, { n: 1 }),
      );
      const result = await drain(tasks);
      expect(result.runs.map((run) => run.outcome)).toEqual(['cancelled']);
      expect(result).toMatchObject({ succeeded: 0, cancelled: 1 });
      expect(await tasks.get(id)).toMatchObject({ status: 'expired', lastError: 'Cancelled' });
    });

    it('enqueued returns the pending attempts of a method, args decoded, filtered by args and where', async () => {
      const tasks = await migratedTasks(harness(), mailerOptions);
      await harness().transaction(async (tx) => {
        await tasks.enqueue(tx, Mailer.send, { to: 'a@example.com', subject: 'Welcome' });
        await tasks.enqueue(
          tx,
          Mailer.send,
          { to: 'b@example.com', subject: 'Welcome', tags: ['x', 'y'] },
          { queue: 'mail' },
        );
        await tasks.enqueue(
          tx,
          Mailer.send,
          { to: 'secret@example.com', subject: 'Reset' },
          { encryptor: 'aes' },
        );
      });
      await harness()
        .transaction(async (tx) => {
          await tasks.enqueue(tx, Mailer.send, { to: 'rolled@example.com', subject: 'Welcome' });
          throw new Error('roll back');
        })
        .catch(() => undefined);

      const all = await enqueued(tasks, Mailer.send);
      expect(all.map((attempt) => attempt.args.to)).toEqual([
        'a@example.com',
        'b@example.com',
        'secret@example.com',
      ]);
      expect(
        (await enqueued(tasks, Mailer.send, { args: { subject: 'Welcome' } })).map(
          (a) => a.args.to,
        ),
      ).toEqual(['a@example.com', 'b@example.com']);
      expect(
        (await enqueued(tasks, Mailer.send, { args: { tags: ['x', 'y'] } })).map((a) => a.queue),
      ).toEqual(['mail']);
      expect(await enqueued(tasks, Mailer.send, { args: { tags: ['x'] } })).toEqual([]);
      expect(
        (await enqueued(tasks, Mailer.send, { where: (a) => a.encryptor === 'aes' })).map(
          (a) => a.args.subject,
        ),
      ).toEqual(['Reset']);

      // Once run, an attempt is no longer enqueued.
      await drain(tasks);
      expect(await enqueued(tasks, Mailer.send)).toEqual([]);
    });

    it('expectEnqueued passes on a partial match and fails with a readable diff', async () => {
      const tasks = await migratedTasks(harness(), mailerOptions);
      await harness().transaction(async (tx) => {
        await tasks.enqueue(tx, Mailer.send, { to: 'b@example.com', subject: 'Welcome' });
        await tasks.enqueue(tx, Mailer.send, { to: 'c@example.com', subject: 'Bye' });
        await tasks.enqueue(
          tx,
          Mailer.send,
          { to: 'secret@example.com', subject: 'Hush' },
          { encryptor: 'aes' },
        );
      });

      const found = await expectEnqueued(tasks, Mailer.send, { args: { to: 'b@example.com' } });
      expect(found.map((attempt) => attempt.args.subject)).toEqual(['Welcome']);
      await expectEnqueued(tasks, Mailer.send, { count: 3 });
      await expectEnqueued(tasks, Mailer.send, { args: { to: 'secret@example.com' }, count: 1 });

      const error = await assertionOf(
        expectEnqueued(tasks, Mailer.send, { args: { to: 'a@example.com', subject: 'Welcome' } }),
      );
      expect(error.message).toContain(
        "expected at least 1 pending Mailer.send attempt with args matching { subject: 'Welcome', to: 'a@example.com' }; found 0.",
      );
      // Nearest first: b differs in one field, c in two; the encrypted one is never quoted.
      expect(error.message).toMatch(
        /Pending Mailer\.send attempts that do not match \(3\), nearest first:\n {2}#\d+ args \{ subject: 'Welcome', to: 'b@example\.com' \}\n {6}args\.to: expected 'a@example\.com', got 'b@example\.com'\n {2}#\d+ args \{ subject: 'Bye', to: 'c@example\.com' \}\n {6}args\.to: expected 'a@example\.com', got 'c@example\.com'\n {6}args\.subject: expected 'Welcome', got 'Bye'\n {2}#\d+ args \[encrypted\]/,
      );
      expect(error.message).not.toContain('secret@example.com');
      expect(error.expected).toEqual({ to: 'a@example.com', subject: 'Welcome' });
      expect(error.actual).toEqual({ to: 'b@example.com', subject: 'Welcome' });
      // What vitest (and jest) make of it: a diff of expected and actual.
      const shown = processError(error) as { diff?: string };
      expect(shown.diff).toMatch(/- {3}"to": "a@example\.com"/);
      expect(shown.diff).toMatch(/\+ {3}"to": "b@example\.com"/);

      const counted = await assertionOf(expectEnqueued(tasks, Mailer.send, { count: 2 }));
      expect(counted.message).toMatch(
        /expected exactly 2 pending Mailer\.send attempts; found 3\./,
      );
      expect([counted.expected, counted.actual]).toEqual([{ count: 2 }, { count: 3 }]);

      await drain(tasks);
      const ran = await assertionOf(
        expectEnqueued(tasks, Mailer.send, { args: { to: 'b@example.com' } }),
      );
      expect(ran.message).toMatch(/No Mailer\.send attempt is pending\./);
      expect(ran.message).toMatch(
        /Matching but no longer pending \(1; a drain or worker ran them\):\n {2}#\d+ args \{ subject: 'Welcome', to: 'b@example\.com' \} \(succeeded, 1 run\)/,
      );
      await expectEnqueued(tasks, Mailer.send, { count: 0 });
    });
  });
}

/** Compiled, never run: arguments and filters are checked against the method's parameter type. */
export function typeChecks(tasks: AsyncTask<unknown, unknown>): void {
  void enqueued(tasks, Mailer.send, { args: { to: 'a@example.com' } }).then((attempts) => {
    const to: string = attempts[0]!.args.to;
    // @ts-expect-error args are typed by the method: there is no `cc`
    void attempts[0]!.args.cc;
    return to;
  });
  // @ts-expect-error `to` is a string
  void enqueued(tasks, Mailer.send, { args: { to: 1 } });
  // @ts-expect-error no such key in the method's arguments
  void expectEnqueued(tasks, Mailer.send, { args: { too: 'a@example.com' } });
  void expectEnqueued(tasks, Mailer.send, { where: (attempt) => attempt.args.subject === 'x' });
  // @ts-expect-error a plain function is not a method of a target
  void enqueued(tasks, (args: { to: string }) => args.to);
}
