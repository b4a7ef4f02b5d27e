// async-task/testing's runInline on every client: a task runs right after the transaction that
// enqueued it commits (seen from the driver's own connections), and never when it rolls back.
import { describe, expect, it } from 'vitest';
import { defineTarget, type TaskContext } from '../../src/index.js';
import { advanceTime, runInline } from '../../src/testing/index.js';
import { fixtures } from '../harness/dialects.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { useHarness } from '../harness/use-harness.js';

for (const fixture of fixtures) {
  describe(`runInline on ${fixture.label}`, () => {
    const harness = useHarness(fixture);

    it('performs a committed enqueue, and what its run enqueues, and never a rolled-back one', async () => {
      const ran: string[] = [];
      const Shop = defineTarget('Shop', {
        async order(args: { name: string }, ctx: TaskContext) {
          ran.push(args.name);
          if (args.name === 'committed') {
            await ctx.transaction((tx) => tasks.enqueue(tx, Shop.order, { name: 'follow-up' }));
          }
        },
      });
      const tasks = await migratedTasks(harness(), { targets: [Shop] });
      const inline = runInline(tasks);
      try {
        const rolledBack = await harness()
          .transaction(async (tx) => {
            await tasks.enqueue(tx, Shop.order, { name: 'rolled back' });
            throw new Error('roll back');
          })
          .catch((error: unknown) => error);
        expect(rolledBack).toEqual(new Error('roll back'));
        await harness().transaction((tx) => tasks.enqueue(tx, Shop.order, { name: 'committed' }));

        const runs = await inline.idle();

        expect(ran).toEqual(['committed', 'follow-up']);
        expect(runs.map((run) => [run.args, run.outcome])).toEqual([
          [{ name: 'committed' }, 'succeeded'],
          [{ name: 'follow-up' }, 'succeeded'],
        ]);
        // Later looks (the rolled-back enqueue is still watched) never find it.
        await harness().transaction((tx) => tasks.enqueue(tx, Shop.order, { name: 'second' }));
        expect((await inline.idle()).map((run) => run.args)).toEqual([{ name: 'second' }]);
        expect(ran).toEqual(['committed', 'follow-up', 'second']);
        expect(await harness().countAttempts()).toBe(3);
      } finally {
        await inline.stop();
      }
    });

    it('runs a task on its own once its transaction commits, without idle(); advanceTime brings a scheduled one forward', async () => {
      let performed!: (name: string) => void;
      const done = new Promise<string>((resolve) => (performed = resolve));
      const Shop = defineTarget('Shop', {
        order(args: { name: string }) {
          performed(args.name);
        },
      });
      const tasks = await migratedTasks(harness(), { targets: [Shop] });
      const inline = runInline(tasks, { pollMs: 1 });
      try {
        await harness().transaction((tx) => tasks.enqueue(tx, Shop.order, { name: 'by itself' }));
        expect(await done).toBe('by itself');
        // idle() waits for its outcome to be written and reports it.
        await inline.idle();
        expect(inline.runs.map((run) => run.outcome)).toEqual(['succeeded']);
        expect((await tasks.list({ status: 'succeeded' })).length).toBe(1);

        // Scheduled for later: committed, but not due until advanceTime brings it forward.
        await harness().transaction((tx) =>
          tasks.enqueue(
            tx,
            Shop.order,
            { name: 'later' },
            {
              scheduledAt: new Date(Date.now() + 3_600_000),
            },
          ),
        );
        expect(await inline.idle()).toEqual([]);
        expect(await advanceTime(tasks, 7_200_000)).toBe(1);
        expect((await inline.idle()).map((run) => run.args)).toEqual([{ name: 'later' }]);
      } finally {
        await inline.stop();
      }
    });
  });
}
