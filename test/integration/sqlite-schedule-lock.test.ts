// A schedule's tick on SQLite waits out another connection's write lock, as the worker's other
// writes do. Before, the tick's INSERT ran synchronously on the worker's connection (whose own
// busy_timeout is 0: its waits are asynchronous retries) and failed at once with "database is
// locked": an `error` event, and the tick inserted a retry later, up to 5 s late.
import { afterEach, describe, expect, it } from 'vitest';
import { AsyncTask, defineTarget } from '../../src/index.js';
import { betterSqlite3Driver } from '../../src/drivers/better-sqlite3.js';
import { Database, tempDatabaseFile, type TestDatabase } from '../harness/sqlite.js';
import { waitFor } from '../harness/wait-for.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('SQLite: schedules and another writer', () => {
  it('ticks due while another connection keeps taking the write lock are inserted, with no error', async () => {
    const { file, remove } = tempDatabaseFile();
    cleanups.push(remove);
    const db: TestDatabase = new Database(file);
    cleanups.push(() => db.close());
    const Clock = defineTarget('Clock', { tick(_args: null) {} });
    const driver = betterSqlite3Driver(db);
    cleanups.push(() => driver.close());
    const tasks = new AsyncTask({
      driver,
      targets: [Clock],
      schedules: [{ name: 'every-second', cron: '* * * * * *', method: Clock.tick, args: null }],
    });
    await tasks.migrate();

    const worker = tasks.worker({ pollIntervalMs: 50 });
    const errors: string[] = [];
    worker.on('error', ({ during, error }) => errors.push(`${during}: ${String(error)}`));
    await worker.start();
    cleanups.push(() => worker.stop());
    await waitFor('the first tick', async () => (await tasks.list()).length >= 1, 5_000);

    // Another process's short write transactions, back to back (15 ms held of every 25), across
    // a few ticks.
    const other: TestDatabase = new Database(file);
    cleanups.push(() => other.close());
    const before = (await tasks.list()).length;
    const until = Date.now() + 3_500;
    while (Date.now() < until) {
      other.exec('BEGIN IMMEDIATE');
      await new Promise((resolve) => setTimeout(resolve, 15));
      other.exec('COMMIT');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await waitFor(
      'the ticks due during the writes',
      async () => (await tasks.list()).length >= before + 3,
      5_000,
    );

    expect(errors.filter((line) => line.startsWith('schedule'))).toEqual([]);
    const tokens = (await tasks.list()).map((attempt) => attempt.idempotenceToken);
    expect(new Set(tokens).size).toBe(tokens.length);
  });
});
