// Guarantee 1: a task exists if and only if the transaction that enqueued it commits.
import { describe, expect, it } from 'vitest';
import { defineTarget, type Attempt } from '../../src/index.js';
import { caught } from '../harness/caught.js';
import { fixtures } from '../harness/dialects.js';
import { itRequires } from '../harness/it-requires.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { useHarness } from '../harness/use-harness.js';

function mailerTarget() {
  const sent: string[] = [];
  const target = defineTarget('Mailer', {
    send(args: { to: string }) {
      sent.push(args.to);
    },
  });
  return { target, sent };
}

for (const fixture of fixtures) {
  describe(fixture.label, () => {
    const harness = useHarness(fixture);

    it('leaves no row when the transaction rolls back', async () => {
      const { target, sent } = mailerTarget();
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const boom = new Error('boom');
      let enqueuedId: string | undefined;

      const error = await caught(
        harness().transaction(async (tx) => {
          enqueuedId = (await tasks.enqueue(tx, target.send, { to: 'a@example.com' })).id;
          await tasks.enqueueMany(tx, [
            { method: target.send, args: { to: 'b@example.com' } },
            { method: target.send, args: { to: 'c@example.com' } },
          ]);
          throw boom;
        }),
      );

      expect(error).toBe(boom);
      expect(enqueuedId).toBeDefined();
      expect(await harness().countAttempts()).toBe(0);
      expect(await tasks.get(enqueuedId!)).toBeNull();
      expect(await tasks.runDue()).toMatchObject({ claimed: 0 });
      expect(sent).toEqual([]);
    });

    it('leaves exactly one row when the transaction commits', async () => {
      const { target, sent } = mailerTarget();
      const tasks = await migratedTasks(harness(), { targets: [target] });

      const enqueued = await harness().transaction((tx) =>
        tasks.enqueue(tx, target.send, { to: 'a@example.com' }),
      );

      expect(await harness().countAttempts()).toBe(1);
      expect(await tasks.get(enqueued.id)).toEqual(enqueued);
      await tasks.runDue();
      expect(sent).toEqual(['a@example.com']);
    });

    itRequires(fixture, 'savepoints')(
      'drops only the task of a rolled-back savepoint',
      async () => {
        const { target, sent } = mailerTarget();
        const tasks = await migratedTasks(harness(), { targets: [target] });
        let inner: string | undefined;

        await harness().transaction(async (tx) => {
          await tasks.enqueue(tx, target.send, { to: 'before@example.com' });
          await harness().rolledBackSavepoint(tx, async (savepoint) => {
            inner = (await tasks.enqueue(savepoint, target.send, { to: 'inner@example.com' })).id;
          });
          await tasks.enqueue(tx, target.send, { to: 'after@example.com' });
        });

        expect(inner).toBeDefined();
        expect(await harness().countAttempts()).toBe(2);
        // Compared by arguments, not ids: a dialect may hand a rolled-back id out again.
        const stored = await tasks.list({ status: 'pending' });
        expect(stored.map((attempt) => attempt.args)).toEqual([
          { to: 'after@example.com' },
          { to: 'before@example.com' },
        ]);
        await tasks.runDue();
        expect(sent.sort()).toEqual(['after@example.com', 'before@example.com']);
      },
    );

    itRequires(fixture, 'savepoints')(
      'lets a token enqueued in a rolled-back savepoint be enqueued again',
      async () => {
        const { target } = mailerTarget();
        const tasks = await migratedTasks(harness(), { targets: [target] });
        const options = { idempotenceToken: 'welcome-1' };

        const { inner, outer } = await harness().transaction(async (tx) => {
          let innerAttempt: Attempt | undefined;
          await harness().rolledBackSavepoint(tx, async (savepoint) => {
            innerAttempt = await tasks.enqueue(savepoint, target.send, { to: 'x' }, options);
          });
          const again = await tasks.enqueue(tx, target.send, { to: 'y' }, options);
          return { inner: innerAttempt, outer: again };
        });

        expect(inner?.args).toEqual({ to: 'x' });
        // A new row: the savepoint's row, with its arguments, is gone.
        expect(outer.args).toEqual({ to: 'y' });
        expect(await tasks.get(outer.id)).toMatchObject({ args: { to: 'y' } });
        expect(await harness().countAttempts()).toBe(1);
      },
    );

    it('returns [] for an empty enqueueMany and writes nothing', async () => {
      const { target } = mailerTarget();
      const tasks = await migratedTasks(harness(), { targets: [target] });
      expect(await harness().transaction((tx) => tasks.enqueueMany(tx, []))).toEqual([]);
      expect(await harness().countAttempts()).toBe(0);
    });

    it('enqueues with the pool, outside any transaction', async () => {
      const { target, sent } = mailerTarget();
      const tasks = await migratedTasks(harness(), { targets: [target] });

      const one = await tasks.enqueue(harness().pool, target.send, { to: 'pool@example.com' });
      const many = await tasks.enqueueMany(harness().pool, [
        { method: target.send, args: { to: 'm1@example.com' } },
        { method: target.send, args: { to: 'm2@example.com' }, options: { idempotenceToken: 't' } },
      ]);

      expect(await tasks.get(one.id)).toEqual(one);
      expect(many.map((attempt) => attempt.args)).toEqual([
        { to: 'm1@example.com' },
        { to: 'm2@example.com' },
      ]);
      expect(await harness().countAttempts()).toBe(3);
      expect(await tasks.runDue()).toMatchObject({ claimed: 3, succeeded: 3 });
      expect(sent.sort()).toEqual(['m1@example.com', 'm2@example.com', 'pool@example.com']);
    });
  });
}
