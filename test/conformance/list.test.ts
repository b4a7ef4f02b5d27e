// list(): newest first, filtered by status, target, method and queue, paged with `before`.
import { describe, expect, it } from 'vitest';
import { defineTarget, type Attempt } from '../../src/index.js';
import { fixtures } from '../harness/dialects.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { useHarness } from '../harness/use-harness.js';

const ids = (attempts: readonly Attempt[]): string[] => attempts.map((attempt) => attempt.id);

function targets() {
  const orders = defineTarget('Orders', {
    fulfill(_args: { n: number }) {},
    cancel(_args: { n: number }) {},
  });
  const mail = defineTarget('Mail', {
    fulfill(_args: { n: number }) {
      throw new Error('smtp down');
    },
  });
  return { orders, mail };
}

for (const fixture of fixtures) {
  describe(fixture.label, () => {
    const harness = useHarness(fixture);

    it('lists newest first, with each filter and their combination', async () => {
      const { orders, mail } = targets();
      const tasks = await migratedTasks(harness(), { targets: [orders, mail] });
      const created = await harness().transaction(async (tx) => [
        await tasks.enqueue(tx, orders.fulfill, { n: 0 }),
        await tasks.enqueue(tx, orders.cancel, { n: 1 }, { queue: 'slow' }),
        await tasks.enqueue(tx, mail.fulfill, { n: 2 }, { maxAttempts: 1 }),
        await tasks.enqueue(tx, orders.fulfill, { n: 3 }, { queue: 'slow' }),
        await tasks.enqueue(tx, orders.fulfill, { n: 4 }),
      ]);
      const [a, b, c, d, e] = created as [Attempt, Attempt, Attempt, Attempt, Attempt];
      await tasks.expire(e.id);
      await tasks.runDue({ queues: ['default'] }); // a succeeds, c fails (out of attempts)

      expect(ids(await tasks.list())).toEqual(ids([e, d, c, b, a]));
      expect(ids(await tasks.list({}))).toEqual(ids([e, d, c, b, a]));
      expect(ids(await tasks.list({ status: 'pending' }))).toEqual(ids([d, b]));
      expect(ids(await tasks.list({ status: 'succeeded' }))).toEqual(ids([a]));
      expect(ids(await tasks.list({ status: 'failed' }))).toEqual(ids([c]));
      expect(ids(await tasks.list({ status: 'expired' }))).toEqual(ids([e]));
      expect(await tasks.list({ status: 'running' })).toEqual([]);
      expect(ids(await tasks.list({ target: 'Orders' }))).toEqual(ids([e, d, b, a]));
      expect(ids(await tasks.list({ target: 'Mail' }))).toEqual(ids([c]));
      expect(await tasks.list({ target: 'Nobody' })).toEqual([]);
      expect(ids(await tasks.list({ methodName: 'fulfill' }))).toEqual(ids([e, d, c, a]));
      expect(ids(await tasks.list({ methodName: 'cancel' }))).toEqual(ids([b]));
      expect(ids(await tasks.list({ queue: 'slow' }))).toEqual(ids([d, b]));
      expect(ids(await tasks.list({ queue: 'default' }))).toEqual(ids([e, c, a]));
      expect(
        ids(await tasks.list({ target: 'Orders', methodName: 'fulfill', status: 'pending' })),
      ).toEqual(ids([d]));
      expect(
        ids(await tasks.list({ target: 'Orders', methodName: 'fulfill', queue: 'default' })),
      ).toEqual(ids([e, a]));

      const [failed] = await tasks.list({ status: 'failed' });
      expect(failed).toMatchObject({
        target: 'Mail',
        methodName: 'fulfill',
        args: { n: 2 },
        lastError: 'Error: smtp down',
      });
      expect(failed).toEqual(await tasks.get(c.id));
    });

    it('pages with `before` and `limit` without gaps or repeats', async () => {
      const { orders } = targets();
      const tasks = await migratedTasks(harness(), { targets: [orders] });
      const created = await harness().transaction((tx) =>
        tasks.enqueueMany(
          tx,
          Array.from({ length: 23 }, (_, n) => ({ method: orders.fulfill, args: { n } })),
        ),
      );
      const newestFirst = ids(created).reverse();

      const pages: string[][] = [];
      let before: string | undefined;
      for (;;) {
        const page = await tasks.list(before === undefined ? { limit: 10 } : { limit: 10, before });
        if (page.length === 0) break;
        pages.push(ids(page));
        before = page[page.length - 1]!.id;
      }

      expect(pages.map((page) => page.length)).toEqual([10, 10, 3]);
      expect(pages.flat()).toEqual(newestFirst);
      expect(ids(await tasks.list({ before: newestFirst[5]!, limit: 2 }))).toEqual(
        newestFirst.slice(6, 8),
      );
      expect(await tasks.list({ before: newestFirst[22]! })).toEqual([]);
      // The default page is 50.
      expect(await tasks.list({ limit: 1000 })).toHaveLength(23);
    });

    it('defaults to 50 per page', async () => {
      const { orders } = targets();
      const tasks = await migratedTasks(harness(), { targets: [orders] });
      await harness().transaction((tx) =>
        tasks.enqueueMany(
          tx,
          Array.from({ length: 55 }, (_, n) => ({ method: orders.fulfill, args: { n } })),
        ),
      );
      expect(await tasks.list()).toHaveLength(50);
    });

    // MySQL's utf8mb4_bin ignores trailing spaces (PAD SPACE): method 'send' listed the attempts
    // of 'send ' too.
    it('filters by the method name exactly, trailing spaces included', async () => {
      const mail = defineTarget('Spaced', {
        send(_args: { n: number }) {},
        'send '(_args: { n: number }) {},
      });
      const tasks = await migratedTasks(harness(), { targets: [mail] });
      const [plain, spaced] = await harness().transaction(async (tx) => [
        await tasks.enqueue(tx, mail.send, { n: 1 }),
        await tasks.enqueue(tx, mail['send '], { n: 2 }),
      ]);
      expect(ids(await tasks.list({ methodName: 'send' }))).toEqual([plain.id]);
      expect(ids(await tasks.list({ methodName: 'send ' }))).toEqual([spaced.id]);
    });
  });
}
