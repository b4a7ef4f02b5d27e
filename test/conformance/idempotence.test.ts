// Idempotence tokens: at most one attempt per (target, method, token), whoever enqueues it and
// however many transactions race for it.
import { describe, expect, it } from 'vitest';
import { DatabaseError, defineTarget, type Attempt } from '../../src/index.js';
import { caught } from '../harness/caught.js';
import { fixtures } from '../harness/dialects.js';
import { itRequires } from '../harness/it-requires.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { useHarness } from '../harness/use-harness.js';
import { waitFor } from '../harness/wait-for.js';

function billingTarget() {
  return defineTarget('Billing', {
    charge(_args: { cents: number }) {},
    refund(_args: { cents: number }) {},
  });
}

/** A promise and the function that resolves it: lets many transactions start together. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

const racers = 20;

for (const fixture of fixtures) {
  describe(fixture.label, () => {
    const harness = useHarness(fixture, { connections: racers + 4 });

    it('returns the same attempt for the same token twice in one transaction', async () => {
      const billing = billingTarget();
      const tasks = await migratedTasks(harness(), { targets: [billing] });

      const [first, second] = await harness().transaction(async (tx) => {
        const a = await tasks.enqueue(
          tx,
          billing.charge,
          { cents: 100 },
          { idempotenceToken: 'o-1' },
        );
        const b = await tasks.enqueue(
          tx,
          billing.charge,
          { cents: 999 },
          { idempotenceToken: 'o-1' },
        );
        return [a, b];
      });

      expect(second.id).toBe(first.id);
      expect(second.args).toEqual({ cents: 100 });
      expect(first.idempotenceToken).toBe('o-1');
      expect(await harness().countAttempts()).toBe(1);
    });

    // MySQL/MariaDB compare utf8mb4_bin text with trailing spaces ignored (PAD SPACE): list
    // found the attempts of 'o-9 ' when asked for 'o-9'. The unique key was never affected (it is
    // a hash of the token).
    it('keeps tokens that differ only in trailing spaces apart, in enqueue and in list', async () => {
      const billing = billingTarget();
      const tasks = await migratedTasks(harness(), { targets: [billing] });
      const [plain, spaced] = await harness().transaction((tx) =>
        tasks.enqueueMany(
          tx,
          ['o-9', 'o-9 '].map((idempotenceToken) => ({
            method: billing.charge,
            args: { cents: 1 },
            options: { idempotenceToken },
          })),
        ),
      );

      expect(spaced!.id).not.toBe(plain!.id);
      expect((await tasks.list({ idempotenceToken: 'o-9' })).map((a) => a.id)).toEqual([plain!.id]);
      expect((await tasks.list({ idempotenceToken: 'o-9 ' })).map((a) => a.id)).toEqual([
        spaced!.id,
      ]);
    });

    it('returns the existing attempt for a token committed earlier, even after it ran', async () => {
      const billing = billingTarget();
      const tasks = await migratedTasks(harness(), { targets: [billing] });
      const first = await harness().transaction((tx) =>
        tasks.enqueue(tx, billing.charge, { cents: 1 }, { idempotenceToken: 'o-2' }),
      );
      await tasks.runDue();

      const again = await harness().transaction((tx) =>
        tasks.enqueue(tx, billing.charge, { cents: 2 }, { idempotenceToken: 'o-2' }),
      );

      expect(again).toMatchObject({ id: first.id, status: 'succeeded', args: { cents: 1 } });
      expect(await harness().countAttempts()).toBe(1);
      expect(await tasks.runDue()).toMatchObject({ claimed: 0 });
    });

    it('scopes a token to its target and method', async () => {
      const billing = billingTarget();
      const other = defineTarget('Ledger', { charge(_args: { cents: number }) {} });
      const tasks = await migratedTasks(harness(), { targets: [billing, other] });
      const options = { idempotenceToken: 'shared' };

      const attempts = await harness().transaction(async (tx) => [
        await tasks.enqueue(tx, billing.charge, { cents: 1 }, options),
        await tasks.enqueue(tx, billing.refund, { cents: 1 }, options),
        await tasks.enqueue(tx, other.charge, { cents: 1 }, options),
      ]);

      expect(new Set(attempts.map((attempt) => attempt.id)).size).toBe(3);
      expect(await harness().countAttempts()).toBe(3);
    });

    it('enqueueMany: duplicates of an existing token and within the batch, results in input order', async () => {
      const billing = billingTarget();
      const tasks = await migratedTasks(harness(), { targets: [billing] });
      const existing = await harness().transaction((tx) =>
        tasks.enqueue(tx, billing.charge, { cents: 1 }, { idempotenceToken: 'old' }),
      );

      const results = await harness().transaction((tx) =>
        tasks.enqueueMany(tx, [
          { method: billing.charge, args: { cents: 10 }, options: { idempotenceToken: 'new' } },
          { method: billing.charge, args: { cents: 11 }, options: { idempotenceToken: 'old' } },
          { method: billing.charge, args: { cents: 12 } },
          { method: billing.charge, args: { cents: 13 }, options: { idempotenceToken: 'new' } },
          { method: billing.refund, args: { cents: 14 }, options: { idempotenceToken: 'new' } },
          { method: billing.charge, args: { cents: 15 } },
          { method: billing.charge, args: { cents: 16 }, options: { idempotenceToken: 'old' } },
        ]),
      );

      expect(results.map((attempt) => attempt.args)).toEqual([
        { cents: 10 },
        { cents: 1 },
        { cents: 12 },
        { cents: 10 },
        { cents: 14 },
        { cents: 15 },
        { cents: 1 },
      ]);
      const [newCharge, old1, plain1, newCharge2, newRefund, plain2, old2] = results as [
        Attempt,
        Attempt,
        Attempt,
        Attempt,
        Attempt,
        Attempt,
        Attempt,
      ];
      expect(old1.id).toBe(existing.id);
      expect(old2.id).toBe(existing.id);
      expect(newCharge2.id).toBe(newCharge.id);
      expect(new Set([existing.id, newCharge.id, plain1.id, newRefund.id, plain2.id]).size).toBe(5);
      expect(newRefund.methodName).toBe('refund');
      expect(await harness().countAttempts()).toBe(5);
      for (const attempt of results) expect(await tasks.get(attempt.id)).toMatchObject(attempt);
    });

    itRequires(fixture, 'concurrentTransactions')(
      `race: ${racers} transactions enqueue one token and all commit → one row, one id`,
      async () => {
        const billing = billingTarget();
        const tasks = await migratedTasks(harness(), { targets: [billing] });
        const allOpen = gate();
        let open = 0;

        const ids = await Promise.all(
          Array.from({ length: racers }, (_, n) =>
            harness().transaction(async (tx) => {
              // Every transaction is open on its own connection before any of them enqueues.
              if (++open === racers) allOpen.open();
              await allOpen.opened;
              const attempt = await tasks.enqueue(
                tx,
                billing.charge,
                { cents: n },
                { idempotenceToken: 'race' },
              );
              return attempt.id;
            }),
          ),
        );

        expect(ids).toHaveLength(racers);
        expect(new Set(ids).size).toBe(1);
        expect(await harness().countAttempts()).toBe(1);
        expect((await tasks.list({})).map((attempt) => attempt.id)).toEqual([ids[0]]);
      },
      20_000,
    );

    itRequires(fixture, 'concurrentTransactions')(
      'race: the first holder of a token rolls back while others wait → still exactly one row',
      async () => {
        const billing = billingTarget();
        const tasks = await migratedTasks(harness(), { targets: [billing] });
        const options = { idempotenceToken: 'race' };
        const holderEnqueued = gate();
        const release = gate();
        const rolledBack = new Error('holder rolls back');
        let holderId: string | undefined;

        const holder = caught(
          harness().transaction(async (tx) => {
            holderId = (await tasks.enqueue(tx, billing.charge, { cents: -1 }, options)).id;
            holderEnqueued.open();
            await release.opened;
            throw rolledBack;
          }),
        );
        await holderEnqueued.opened;
        const enqueueOnce = (n: number): Promise<string> =>
          harness().transaction(
            async (tx) => (await tasks.enqueue(tx, billing.charge, { cents: n }, options)).id,
          );
        // Where the database picks deadlock victims among the waiters, the victims' whole
        // transactions roll back with a DatabaseError, and retrying them is the application's move.
        const deadlocked: unknown[] = [];
        const enqueueRetryingDeadlocks = async (n: number): Promise<string> => {
          for (;;) {
            try {
              return await enqueueOnce(n);
            } catch (error) {
              if (
                fixture.tokenRollbackDeadlocks === undefined ||
                !(error instanceof DatabaseError) ||
                deadlocked.length > racers * 2
              ) {
                throw error;
              }
              deadlocked.push(error);
            }
          }
        };
        const others = Promise.allSettled(
          Array.from({ length: racers - 1 }, (_, n) => enqueueRetryingDeadlocks(n)),
        );
        try {
          await waitFor(
            `${racers - 1} enqueues to block on the holder's uncommitted row`,
            async () => (await harness().lockWaiters()) >= racers - 1,
          );
        } finally {
          release.open();
        }

        expect(await holder).toBe(rolledBack);
        const settled = await others;
        const ids = settled.map((result) => {
          if (result.status === 'rejected') throw result.reason;
          return result.value;
        });
        expect(holderId).toBeDefined();
        expect(new Set(ids).size).toBe(1);
        expect(await harness().countAttempts()).toBe(1);
        // The row is one of the waiters', not the rolled-back holder's (cents -1).
        const survivor = await tasks.get(ids[0]!);
        expect(survivor).toMatchObject({ idempotenceToken: 'race', status: 'pending' });
        expect((survivor?.args as { cents: number }).cents).toBeGreaterThanOrEqual(0);
      },
      20_000,
    );
  });
}
