// Guarantee 3: writes made through ctx.transaction commit if and only if the attempt is marked
// succeeded.
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  LeaseLostError,
  defineTarget,
  type AsyncTask,
  type TaskContext,
} from '../../src/index.js';
import { caught } from '../harness/caught.js';
import { fixtures } from '../harness/dialects.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { useHarness } from '../harness/use-harness.js';
import { useWorkers } from '../harness/use-workers.js';
import { waitFor } from '../harness/wait-for.js';

for (const fixture of fixtures) {
  describe(fixture.label, () => {
    const harness = useHarness(fixture);
    const track = useWorkers();

    it('commits the handler’s write together with the success, completed when it commits', async () => {
      await harness().createSideTable();
      const returned: unknown[] = [];
      let bodyEnded = 0;
      const target = defineTarget('Ledger', {
        async record(args: { key: string }, ctx: TaskContext) {
          returned.push(
            await ctx.transaction(async (tx) => {
              await harness().insertSide(tx, args.key);
              // A transaction that takes a while: completedAt is when the success was written at
              // its end (PostgreSQL's now() is when the transaction began).
              await delay(250);
              bodyEnded = Date.now();
              return 'written';
            }),
          );
        },
      });
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const { id } = await harness().transaction((tx) =>
        tasks.enqueue(tx, target.record, { key: 'entry-1' }),
      );

      expect(await tasks.runDue()).toMatchObject({ claimed: 1, succeeded: 1 });

      expect(returned).toEqual(['written']);
      expect(await harness().sideKeys()).toEqual(['entry-1']);
      const done = await tasks.get(id);
      expect(done).toMatchObject({ status: 'succeeded', numAttempts: 1, lastError: null });
      expect(done?.completedAt?.getTime()).toBeGreaterThanOrEqual(bodyEnded - 10);
    });

    it('rolls the write back when the lease was lost, and the attempt runs again', async () => {
      await harness().createSideTable();
      // The handler needs the AsyncTask that is built from its target: filled in below.
      const late = {} as { tasks: AsyncTask<unknown, unknown> };
      const transactionErrors: unknown[] = [];
      const rescues: number[] = [];
      const target = defineTarget('Ledger', {
        async record(args: { key: string }, ctx: TaskContext) {
          if (ctx.attempt.numAttempts === 1) {
            // Play a worker that hung past its lease: the lease runs out and another pass rescues
            // the attempt (runDue rescues before it claims; this one claims from an empty queue).
            await harness().expireLease(ctx.attempt.id);
            rescues.push((await late.tasks.runDue({ queues: ['nothing-here'] })).rescued);
            expect(await late.tasks.get(ctx.attempt.id)).toMatchObject({ status: 'pending' });
          }
          try {
            await ctx.transaction((tx) => harness().insertSide(tx, args.key));
          } catch (error) {
            transactionErrors.push(error);
            throw error;
          }
        },
      });
      const tasks = await migratedTasks(harness(), { targets: [target] });
      late.tasks = tasks;
      const { id } = await harness().transaction((tx) =>
        tasks.enqueue(tx, target.record, { key: 'entry-1' }),
      );

      await tasks.runDue();

      expect(rescues).toEqual([1]);
      expect(transactionErrors).toHaveLength(1);
      expect(transactionErrors[0]).toBeInstanceOf(LeaseLostError);
      expect(transactionErrors[0]).toMatchObject({ code: 'LEASE_LOST' });
      expect(await harness().sideKeys()).toEqual([]);
      const rescued = await tasks.get(id);
      expect(rescued).toMatchObject({ status: 'pending', numAttempts: 1, completedAt: null });
      expect(rescued?.lastError).toMatch(/^LeaseExpired: /);

      expect(await tasks.runDue()).toMatchObject({ claimed: 1, succeeded: 1 });

      expect(await harness().sideKeys()).toEqual(['entry-1']);
      expect(await tasks.get(id)).toMatchObject({ status: 'succeeded', numAttempts: 2 });
    });

    it('rolls the write back when the handler throws inside ctx.transaction, and retries', async () => {
      await harness().createSideTable();
      const target = defineTarget('Ledger', {
        async record(args: { key: string }, ctx: TaskContext) {
          await ctx.transaction(async (tx) => {
            await harness().insertSide(tx, args.key);
            if (ctx.attempt.numAttempts === 1) throw new Error('validation failed after insert');
          });
        },
      });
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const { id } = await harness().transaction((tx) =>
        tasks.enqueue(tx, target.record, { key: 'entry-1' }),
      );

      expect(await tasks.runDue()).toMatchObject({ claimed: 1, retried: 1 });

      expect(await harness().sideKeys()).toEqual([]);
      expect(await tasks.get(id)).toMatchObject({
        status: 'pending',
        numAttempts: 1,
        lastError: 'Error: validation failed after insert',
      });

      await harness().makeDue(id);
      expect(await tasks.runDue()).toMatchObject({ claimed: 1, succeeded: 1 });
      expect(await harness().sideKeys()).toEqual(['entry-1']);
      expect(await tasks.get(id)).toMatchObject({ status: 'succeeded', numAttempts: 2 });
    });

    it('rolls the write back when the run passes its time limit inside ctx.transaction; the attempt fails', async () => {
      // Before, on SQLite the transaction (holding the one connection) committed the success
      // first, and the timeout's failure write was then fenced off: the attempt succeeded 800 ms
      // past a 300 ms limit.
      await harness().createSideTable();
      const transactionErrors: unknown[] = [];
      let settled!: () => void;
      const handlerDone = new Promise<void>((resolve) => (settled = resolve));
      const target = defineTarget(
        'Ledger',
        {
          async record(args: { key: string }, ctx: TaskContext) {
            try {
              await ctx.transaction(async (tx) => {
                await harness().insertSide(tx, args.key);
                await new Promise((resolve) => setTimeout(resolve, 600));
              });
            } catch (error) {
              transactionErrors.push(error);
            } finally {
              settled();
            }
          },
        },
        { timeoutMs: 200, maxAttempts: 1 },
      );
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const { id } = await harness().transaction((tx) =>
        tasks.enqueue(tx, target.record, { key: 'entry-1' }),
      );

      expect(await tasks.runDue()).toMatchObject({ claimed: 1, failed: 1, succeeded: 0 });
      await handlerDone;

      expect(await harness().sideKeys()).toEqual([]);
      expect(transactionErrors).toHaveLength(1);
      expect(transactionErrors[0]).toMatchObject({ code: 'TIMEOUT' });
      expect(await tasks.get(id)).toMatchObject({ status: 'failed', numAttempts: 1 });
      expect((await tasks.get(id))?.lastError).toMatch(/^TaskTimeoutError: .*200 ms/);
    });

    it('keeps the success and the write when the handler throws after ctx.transaction', async () => {
      await harness().createSideTable();
      const target = defineTarget('Ledger', {
        async record(args: { key: string }, ctx: TaskContext) {
          await ctx.transaction((tx) => harness().insertSide(tx, args.key));
          throw new Error('after the commit');
        },
      });
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const { id } = await harness().transaction((tx) =>
        tasks.enqueue(tx, target.record, { key: 'entry-1' }),
      );

      expect(await tasks.runDue()).toMatchObject({ claimed: 1, succeeded: 1, retried: 0 });

      expect(await harness().sideKeys()).toEqual(['entry-1']);
      expect(await tasks.get(id)).toMatchObject({ status: 'succeeded', numAttempts: 1 });
      expect(await tasks.runDue()).toMatchObject({ claimed: 0 });
    });

    it('refuses a ctx.transaction called after the handler returned, before or after its success is written, and commits nothing', async () => {
      await harness().createSideTable();
      const late: Promise<unknown>[] = [];
      let kept: TaskContext | undefined;
      const target = defineTarget('Ledger', {
        record(args: { key: string }, ctx: TaskContext) {
          kept = ctx;
          // Started after the handler has returned, while its success waits to be written.
          late.push(
            Promise.resolve().then(() =>
              caught(ctx.transaction((tx) => harness().insertSide(tx, `${args.key}-late`))),
            ),
          );
        },
      });
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const { id } = await harness().transaction((tx) =>
        tasks.enqueue(tx, target.record, { key: 'entry-1' }),
      );

      expect(await tasks.runDue()).toMatchObject({ succeeded: 1 });
      const after = await caught(
        kept!.transaction((tx) => harness().insertSide(tx, 'entry-1-later')),
      );

      const errors = [...(await Promise.all(late)), after];
      for (const error of errors) {
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as ConfigError).message).toMatch(
          /called after the handler of attempt \d+ had returned or thrown/,
        );
      }
      expect(await harness().sideKeys()).toEqual([]);
      expect(await tasks.get(id)).toMatchObject({ status: 'succeeded', numAttempts: 1 });
    });

    it('inside ctx.transaction, the AsyncTask’s own reads and enqueues (on tx) run, not wait for the connection the transaction holds', async () => {
      await harness().createSideTable();
      const seen: unknown[] = [];
      const ref: { tasks?: AsyncTask<unknown, unknown> } = {};
      const target = defineTarget('Ledger', {
        async record(args: { key: string }, ctx: TaskContext) {
          await ctx.transaction(async (tx) => {
            const tasks = ref.tasks!;
            seen.push((await tasks.get(ctx.attempt.id))?.status);
            seen.push((await tasks.list({ limit: 5 })).length);
            await tasks.enqueue(tx, target.record, { key: `${args.key}-child` });
            await harness().insertSide(tx, args.key);
          });
        },
      });
      const tasks = await migratedTasks(harness(), { targets: [target] });
      ref.tasks = tasks;
      await harness().transaction((tx) => tasks.enqueue(tx, target.record, { key: 'entry-1' }));

      const pass = tasks.runDue({ limit: 1 });
      const result = await Promise.race([
        pass,
        new Promise((resolve) => setTimeout(() => resolve('still waiting after 10 s'), 10_000)),
      ]);
      expect(result).toMatchObject({ claimed: 1, succeeded: 1 });
      expect(seen).toEqual(['running', 1]);
      expect(await harness().sideKeys()).toEqual(['entry-1']);
      expect(await harness().countAttempts()).toBe(2);
    }, 20_000);

    it('a ctx.transaction the handler did not await, still open when its outcome is written, rolls back with a ConfigError that says so (SQLite: commits first)', async () => {
      await harness().createSideTable();
      const open: Promise<unknown>[] = [];
      const target = defineTarget('Ledger', {
        record(args: { key: string }, ctx: TaskContext) {
          open.push(
            ctx
              .transaction(async (tx) => {
                await new Promise((resolve) => setTimeout(resolve, 400));
                await harness().insertSide(tx, args.key);
              })
              .then(
                () => 'committed',
                (error: unknown) => error,
              ),
          );
        },
      });
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const { id } = await harness().transaction((tx) =>
        tasks.enqueue(tx, target.record, { key: 'entry-1' }),
      );

      const result = await tasks.runDue();
      const [ended] = await Promise.all(open);
      if (fixture.dialect === 'sqlite') {
        // The open transaction holds SQLite's one connection: the run's own write waits for it,
        // so the transaction commits with the success, and the run's write finds it written.
        expect(ended).toBe('committed');
        expect(result).toMatchObject({ succeeded: 0, lost: 1 });
        expect(await harness().sideKeys()).toEqual(['entry-1']);
      } else {
        expect(ended).toBeInstanceOf(ConfigError);
        expect((ended as ConfigError).message).toMatch(/was not awaited: the handler returned/);
        expect(result).toMatchObject({ succeeded: 1 });
        expect(await harness().sideKeys()).toEqual([]);
      }
      expect(await tasks.get(id)).toMatchObject({ status: 'succeeded', numAttempts: 1 });
    });

    // A heartbeat that ran after the success committed, while the handler went on, found the
    // attempt no longer running: it warned "lease lost" and aborted ctx.signal, with no fault.
    it('a heartbeat after ctx.transaction committed, with the handler still going, sees no lost lease', async () => {
      await harness().createSideTable();
      const warnings: string[] = [];
      const aborted: unknown[] = [];
      let ended = false;
      const target = defineTarget('Ledger', {
        async record(args: { key: string }, ctx: TaskContext) {
          await ctx.transaction((tx) => harness().insertSide(tx, args.key));
          ctx.signal.addEventListener('abort', () => aborted.push(ctx.signal.reason));
          // Heartbeats every 10 ms meanwhile.
          await new Promise((resolve) => setTimeout(resolve, 300));
          ended = true;
        },
      });
      const warn = (_object: object, message?: string) => void warnings.push(message ?? '');
      const quiet = () => undefined;
      const tasks = await migratedTasks(harness(), {
        targets: [target],
        logger: { debug: quiet, info: quiet, warn, error: warn },
      });
      const { id } = await harness().transaction((tx) =>
        tasks.enqueue(tx, target.record, { key: 'entry-1' }),
      );
      const worker = track(tasks.worker({ heartbeatMs: 10, pollIntervalMs: 50 }));
      await worker.start();
      await waitFor('the handler to end', () => ended);
      await worker.stop();
      expect(warnings).toEqual([]);
      expect(aborted).toEqual([]);
      expect(await tasks.get(id)).toMatchObject({ status: 'succeeded', numAttempts: 1 });
      expect(await harness().sideKeys()).toEqual(['entry-1']);
    });

    it('refuses a second ctx.transaction in one run', async () => {
      await harness().createSideTable();
      const secondCall: unknown[] = [];
      const target = defineTarget('Ledger', {
        async record(args: { key: string }, ctx: TaskContext) {
          await ctx.transaction((tx) => harness().insertSide(tx, args.key));
          secondCall.push(
            await caught(ctx.transaction((tx) => harness().insertSide(tx, `${args.key}-again`))),
          );
        },
      });
      const tasks = await migratedTasks(harness(), { targets: [target] });
      await harness().transaction((tx) => tasks.enqueue(tx, target.record, { key: 'entry-1' }));

      expect(await tasks.runDue()).toMatchObject({ succeeded: 1 });

      expect(secondCall).toHaveLength(1);
      expect(secondCall[0]).toBeInstanceOf(ConfigError);
      expect(secondCall[0]).toMatchObject({ code: 'CONFIG' });
      expect(await harness().sideKeys()).toEqual(['entry-1']);
    });
  });
}
