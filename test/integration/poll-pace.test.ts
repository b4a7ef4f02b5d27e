// A worker that hears no notifications (SQLite and MySQL/MariaDB across processes, PostgreSQL with
// `pollOnly`) used to wait the whole poll interval after every claim that came up short, so each
// task of a steady stream enqueued elsewhere waited half an interval on average before it started
// (at 5,000 tasks/s across processes: p50 540 ms on SQLite). Here the enqueues come from another
// AsyncTask (no local wake) while the worker polls every 5 s: once a claim has taken something,
// the next tasks start within a fraction of that.
import { afterEach, describe, expect, it } from 'vitest';
import { AsyncTask, defineTarget } from '../../src/index.js';
import type { Harness } from '../harness/fixture.js';
import { mysqlHarness } from '../harness/mysql.js';
import { postgresHarness } from '../harness/postgres.js';
import { sqliteHarness } from '../harness/sqlite.js';
import { waitFor } from '../harness/wait-for.js';

const harnesses: [string, () => Promise<Harness>][] = [
  ['sqlite', () => sqliteHarness()],
  ['mysql', () => mysqlHarness()],
  ['postgres (pollOnly)', () => postgresHarness()],
];

const pollIntervalMs = 5000;

describe('a worker without notifications, while tasks keep coming', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  for (const [label, open] of harnesses) {
    it(`${label}: starts each task soon after its enqueue commits, not at the next poll`, async () => {
      const harness = await open();
      closers.push(() => harness.close());
      const startedAt = new Map<number, number>();
      const Clock = defineTarget('Clock', {
        run(args: { i: number }) {
          startedAt.set(args.i, performance.now());
        },
      });
      const options = { driver: harness.driver, table: harness.table, targets: [Clock] };
      const tasks = new AsyncTask(options);
      await tasks.migrate();
      // Another AsyncTask: its enqueues do not wake this process's worker.
      const producer = new AsyncTask(options);
      const enqueue = (i: number) =>
        harness.transaction((tx) => producer.enqueue(tx, Clock.run, { i }));

      await enqueue(0);
      const worker = tasks.worker({ pollIntervalMs, pollOnly: true });
      await worker.start();
      closers.push(() => worker.stop());
      // The worker's first claim takes it at once.
      await waitFor('the first task to start', () => startedAt.has(0), pollIntervalMs / 2);

      const pickups: number[] = [];
      for (let i = 1; i <= 5; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50 * i));
        await enqueue(i);
        const committedAt = performance.now();
        await waitFor(`task ${i} to start`, () => startedAt.has(i), pollIntervalMs / 2);
        pickups.push(startedAt.get(i)! - committedAt);
      }
      // Within 250 ms of a claim that took something the worker looks every 25 ms.
      expect(Math.max(...pickups)).toBeLessThan(1000);
    }, 30_000);
  }
});
