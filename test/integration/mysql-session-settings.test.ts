// MySQL sessions whose settings silently lost or changed what async-task writes:
// - a latin1 connection stored 'naïve 日本 😀' as 'naïve ?? ?', and an enqueue with the token
//   '日本-1' committed its row as '??-1', then threw "vanished while enqueueing; retry";
// - a pool whose connections run with autocommit off left the worker's claims and completions
//   uncommitted (tasks stayed `running` for every other session, and ran again later), and an
//   enqueue given that pool returned an attempt that was never committed.
// Both are refused now with a ConfigError that says what to change, before anything is written.
import mysql from 'mysql2/promise';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AsyncTask, ConfigError, defineTarget } from '../../src/index.js';
import { mysql2Driver } from '../../src/drivers/mysql2.js';
import { caught } from '../harness/caught.js';
import { mysqlHarness, mysqlUrlFor } from '../harness/mysql.js';
import { migratedTasks } from '../harness/new-tasks.js';

const Notes = defineTarget('Notes', { write(_args: { text: string }) {} });

describe('mysql session settings', () => {
  let harness: Awaited<ReturnType<typeof mysqlHarness>>;
  let other: mysql.Pool | undefined;

  beforeEach(async () => {
    harness = await mysqlHarness();
    await migratedTasks(harness, { targets: [Notes] });
  });

  afterEach(async () => {
    await other?.end();
    other = undefined;
    await harness.close();
  });

  const tasksOn = (pool: mysql.Pool) =>
    new AsyncTask({ driver: mysql2Driver(pool), table: harness.table, targets: [Notes] });

  const count = async (): Promise<number> => {
    const [rows] = await harness.pool.query(
      `SELECT COUNT(*) AS n FROM \`${harness.database}\`.async_task_attempts`,
    );
    return Number((rows as { n: number }[])[0]!.n);
  };

  it('refuses a connection whose character set is not utf8mb4, writing nothing', async () => {
    other = mysql.createPool({ uri: mysqlUrlFor(harness.database), charset: 'latin1_swedish_ci' });
    const tasks = tasksOn(other);
    for (const enqueue of [
      () => tasks.enqueue(other!, Notes.write, { text: 'naïve 日本 😀' }),
      () => tasks.enqueue(other!, Notes.write, { text: 'x' }, { idempotenceToken: '日本-1' }),
    ]) {
      const error = await caught(enqueue());
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(
        /^MySQL connection uses another character set than utf8mb4 \(character_set_client = latin1, character_set_connection = latin1, character_set_results = latin1\).* charset: 'utf8mb4_unicode_ci'/,
      );
    }
    expect(await count()).toBe(0);
    expect(await caught(tasks.worker({ pollIntervalMs: 50 }).start())).toBeInstanceOf(ConfigError);
    expect(await caught(tasks.migrate())).toBeInstanceOf(ConfigError);

    // The same text through a utf8mb4 pool is stored as it was given.
    const good = tasksOn(harness.pool);
    const attempt = await good.enqueue(harness.pool, Notes.write, { text: 'naïve 日本 😀' });
    expect((await good.get(attempt.id))?.args).toEqual({ text: 'naïve 日本 😀' });
  });

  it('refuses an enqueue, a worker or migrate on a pool that runs with autocommit off', async () => {
    other = mysql.createPool({ uri: mysqlUrlFor(harness.database) });
    other.pool.on('connection', (connection) => {
      connection.query('SET SESSION autocommit = 0');
    });
    const tasks = tasksOn(other);
    const started = await caught(tasks.worker({ pollIntervalMs: 50 }).start());
    expect(started).toBeInstanceOf(ConfigError);
    expect((started as Error).message).toMatch(
      /^MySQL connection runs with autocommit off \(@@autocommit = 0.*leave autocommit on/,
    );
    expect(await caught(tasks.runDue())).toBeInstanceOf(ConfigError);
    expect(await caught(tasks.migrate())).toBeInstanceOf(ConfigError);
    // An enqueue given that pool returned an attempt that was never committed.
    const enqueued = await caught(tasks.enqueue(other, Notes.write, { text: 'x' }));
    expect(enqueued).toBeInstanceOf(ConfigError);
    expect(await count()).toBe(0);
  });
});
