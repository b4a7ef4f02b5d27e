// Debounce: enqueue with { idempotenceToken, replace: 'pending' } gives a still-pending attempt
// the latest arguments and due time; a running or finished one is left alone, and a claim that
// came first keeps the arguments it ran with.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  AsyncTask,
  ConfigError,
  aesGcmEncryptor,
  defineTarget,
  type EnqueueOptions,
  type TaskContext,
} from '../../src/index.js';
import { caughtSync } from '../harness/caught.js';
import { fixtures, itOnlyOn } from '../harness/dialects.js';
import { itRequires } from '../harness/it-requires.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { useHarness } from '../harness/use-harness.js';
import { useWorkers } from '../harness/use-workers.js';
import { waitFor } from '../harness/wait-for.js';

interface Digest {
  readonly user: string;
  readonly items: number;
}

/** A target whose handler records the arguments it ran with, and may wait for `hold`. */
function digestTarget(hold?: Promise<void>) {
  const ran: Digest[] = [];
  let started = 0;
  const target = defineTarget('Digest', {
    async send(args: Digest, _ctx: TaskContext) {
      started += 1;
      await hold;
      ran.push(args);
    },
  });
  return { target, ran, started: () => started };
}

const inAnHour = (): Date => new Date(Date.now() + 3_600_000);
const replace = (token: string, scheduledAt?: Date): EnqueueOptions<never> =>
  scheduledAt === undefined
    ? { idempotenceToken: token, replace: 'pending' }
    : { idempotenceToken: token, replace: 'pending', scheduledAt };

for (const fixture of fixtures) {
  describe(fixture.label, () => {
    const harness = useHarness(fixture);
    const track = useWorkers();

    it('replaces the arguments, encryptor and due time of a pending attempt: one row, latest wins', async () => {
      const { target, ran } = digestTarget();
      const tasks = await migratedTasks(harness(), {
        targets: [target],
        encryptors: { aes: aesGcmEncryptor({ keys: { k1: randomBytes(32) }, current: 'k1' }) },
      });
      const first = await harness().transaction((tx) =>
        tasks.enqueue(tx, target.send, { user: 'u1', items: 1 }, replace('digest-u1', inAnHour())),
      );
      const later = inAnHour();

      const second = await harness().transaction((tx) =>
        tasks.enqueue(tx, target.send, { user: 'u1', items: 2 }, replace('digest-u1', later)),
      );

      expect(second).toMatchObject({
        id: first.id,
        status: 'pending',
        args: { user: 'u1', items: 2 },
        scheduledAt: later,
      });
      expect(await tasks.get(first.id)).toMatchObject({ args: { items: 2 }, scheduledAt: later });
      expect(await harness().countAttempts()).toBe(1);
      expect(await tasks.runDue()).toMatchObject({ claimed: 0 });

      // Replaced again, encrypted, with no due time: due now, encrypted at rest like any enqueue,
      // and it runs the latest arguments, once.
      const third = await harness().transaction((tx) =>
        tasks.enqueue(
          tx,
          target.send,
          { user: 'u1', items: 3 },
          { ...replace('digest-u1'), encryptor: 'aes' },
        ),
      );
      expect(third).toMatchObject({ id: first.id, status: 'pending', encryptor: 'aes' });
      expect(third.scheduledAt.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
      expect(await harness().rawMethodArgs(first.id)).not.toContain('items');
      expect(await tasks.runDue()).toMatchObject({ claimed: 1, succeeded: 1 });
      expect(ran).toEqual([{ user: 'u1', items: 3 }]);
    });

    it('enqueueMany: the last replacing item of a token wins, in the table and in every result', async () => {
      const { target } = digestTarget();
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const held = await harness().transaction((tx) =>
        tasks.enqueue(tx, target.send, { user: 'old', items: 0 }, { idempotenceToken: 'old' }),
      );

      const results = await harness().transaction((tx) =>
        tasks.enqueueMany(tx, [
          { method: target.send, args: { user: 'new', items: 1 }, options: replace('new') },
          { method: target.send, args: { user: 'old', items: 1 }, options: replace('old') },
          { method: target.send, args: { user: 'new', items: 2 }, options: replace('new') },
          { method: target.send, args: { user: 'old', items: 2 }, options: replace('old') },
          {
            method: target.send,
            args: { user: 'new', items: 9 },
            options: { idempotenceToken: 'new' },
          },
          { method: target.send, args: { user: 'plain', items: 1 } },
        ]),
      );

      expect(results.map((attempt) => attempt.args)).toEqual([
        { user: 'new', items: 2 },
        { user: 'old', items: 2 },
        { user: 'new', items: 2 },
        { user: 'old', items: 2 },
        { user: 'new', items: 2 },
        { user: 'plain', items: 1 },
      ]);
      expect(results[1]!.id).toBe(held.id);
      expect(new Set(results.map((attempt) => attempt.id)).size).toBe(3);
      expect(await harness().countAttempts()).toBe(3);
      for (const attempt of results) expect(await tasks.get(attempt.id)).toMatchObject(attempt);
    });

    it('leaves a running and a finished attempt alone and returns it as it is', async () => {
      let release!: () => void;
      const hold = new Promise<void>((resolve) => (release = resolve));
      const { target, ran, started } = digestTarget(hold);
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const first = await tasks.enqueue(
        harness().pool,
        target.send,
        { user: 'u1', items: 1 },
        { idempotenceToken: 'digest-u1' },
      );
      // The claim comes first: the handler runs with the arguments the row had then.
      const pass = tasks.runDue();
      await waitFor('the handler to start', () => started() === 1);

      const whileRunning = await tasks.enqueue(
        harness().pool,
        target.send,
        { user: 'u1', items: 2 },
        replace('digest-u1'),
      );
      expect(whileRunning).toMatchObject({
        id: first.id,
        status: 'running',
        args: { user: 'u1', items: 1 },
      });
      release();
      expect(await pass).toMatchObject({ claimed: 1, succeeded: 1 });
      expect(ran).toEqual([{ user: 'u1', items: 1 }]);

      const afterwards = await harness().transaction((tx) =>
        tasks.enqueue(tx, target.send, { user: 'u1', items: 3 }, replace('digest-u1')),
      );
      expect(afterwards).toMatchObject({
        id: first.id,
        status: 'succeeded',
        args: { user: 'u1', items: 1 },
      });
      expect(await tasks.get(first.id)).toMatchObject({ args: { items: 1 }, status: 'succeeded' });
      expect(await harness().countAttempts()).toBe(1);
      expect(await tasks.runDue()).toMatchObject({ claimed: 0 });
    });

    itRequires(fixture, 'concurrentTransactions')(
      'a claim while the replacing transaction is open passes the row by, then runs the new arguments',
      async () => {
        const { target, ran } = digestTarget();
        const tasks = await migratedTasks(harness(), { targets: [target] });
        await tasks.enqueue(
          harness().pool,
          target.send,
          { user: 'u1', items: 1 },
          { idempotenceToken: 'digest-u1' },
        );

        await harness().transaction(async (tx) => {
          await tasks.enqueue(tx, target.send, { user: 'u1', items: 2 }, replace('digest-u1'));
          // Another connection's claim: the old arguments must not run under the replace's feet.
          expect(await tasks.runDue()).toMatchObject({ claimed: 0 });
        });

        expect(await tasks.runDue()).toMatchObject({ claimed: 1, succeeded: 1 });
        expect(ran).toEqual([{ user: 'u1', items: 2 }]);
      },
      20_000,
    );

    it('refuses replace without an idempotenceToken, or with another value, writing nothing', async () => {
      const { target } = digestTarget();
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const args = { user: 'u1', items: 1 };
      const noToken = { replace: 'pending' } as unknown as EnqueueOptions<never>;
      const other = { idempotenceToken: 't', replace: 'all' } as unknown as EnqueueOptions<never>;

      const errors = [
        caughtSync(() => tasks.enqueue(harness().pool, target.send, args, noToken)),
        caughtSync(() => tasks.enqueue(harness().pool, target.send, args, other)),
        caughtSync(() =>
          tasks.enqueueMany(harness().pool, [
            { method: target.send, args },
            { method: target.send, args, options: noToken },
          ]),
        ),
      ];

      for (const error of errors) expect(error).toBeInstanceOf(ConfigError);
      expect(String(errors[0])).toMatch(/replace: 'pending' needs an idempotenceToken/);
      expect(String(errors[1])).toMatch(/replace must be 'pending'.*got "all"/);
      expect(String(errors[2])).toMatch(/enqueueMany: item 1: replace: 'pending' needs/);
      expect(await harness().countAttempts()).toBe(0);
    });

    itOnlyOn(
      fixture,
      fixtures.filter((f) => f.dialect === 'postgres').map((f) => f.label),
      `${fixture.dialect} has no NOTIFY (its workers find a replaced attempt by polling)`,
      'listen',
    )(
      'a replace that makes the attempt due wakes a listening worker of another AsyncTask',
      async () => {
        const { target, ran } = digestTarget();
        const tasks = await migratedTasks(harness(), { targets: [target] });
        await tasks.enqueue(
          harness().pool,
          target.send,
          { user: 'u1', items: 1 },
          replace('digest-u1', inAnHour()),
        );
        // Another AsyncTask, as in another process: only a notification can wake it before its poll.
        const elsewhere = new AsyncTask({
          driver: harness().driver,
          table: harness().table,
          targets: [target],
        });
        const worker = track(elsewhere.worker({ pollIntervalMs: 60_000 }));
        await worker.start();

        await harness().transaction((tx) =>
          tasks.enqueue(tx, target.send, { user: 'u1', items: 2 }, replace('digest-u1')),
        );

        await waitFor('the replaced attempt to run', () => ran.length === 1, 5000);
        expect(ran).toEqual([{ user: 'u1', items: 2 }]);
      },
      15_000,
    );
  });
}
