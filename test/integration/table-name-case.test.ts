// Two tables whose names differ only in letter case.
// - MariaDB keeps table names apart by case (on Linux) but not procedure names: the second
//   migrate() replaced the first table's `<table>_enqueue` procedure with its own, so SQL
//   enqueues meant for the first table landed in the second. The second is refused now.
// - SQLite's names ignore case: `Jobs` and `jobs` are one table. migrate() of the second failed
//   with "table already exists" and a worker said the table did not exist; both names now find it.
import { afterEach, describe, expect, it } from 'vitest';
import { AsyncTask, ConfigError, defineTarget } from '../../src/index.js';
import { caught } from '../harness/caught.js';
import { mysqlHarness } from '../harness/mysql.js';
import { sqliteHarness } from '../harness/sqlite.js';

const Notes = defineTarget('Notes', { write(_args: { n: number }) {} });

describe('table names that differ only in letter case', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  it('MariaDB: the second table is refused before anything is created; the first keeps its procedure', async () => {
    const harness = await mysqlHarness();
    closers.push(() => harness.close());
    const on = (name: string) =>
      new AsyncTask({
        driver: harness.driver,
        table: `${harness.database}.${name}`,
        targets: [Notes],
      });
    await on('Jobs').migrate();
    const error = await caught(on('jobs').migrate());
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(
      /^migrate: table `at_test_\w+`\.`jobs` and async-task's table `Jobs` differ only in letter case: .* give this table a name of its own$/,
    );
    const [tables] = await harness.pool.query(
      `SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?`,
      [harness.database],
    );
    expect((tables as { name: string }[]).map((row) => row.name)).not.toContain('jobs');
    await harness.pool.query(
      `CALL \`${harness.database}\`.Jobs_enqueue('Notes', 'write', '{"n":1}', NULL, @id)`,
    );
    expect((await on('Jobs').list()).map((attempt) => attempt.target)).toEqual(['Notes']);
  });

  it('SQLite: both names are the one table', async () => {
    const harness = await sqliteHarness();
    closers.push(() => harness.close());
    const on = (name: string) =>
      new AsyncTask({ driver: harness.driver, table: name, targets: [Notes] });
    await on('Jobs').migrate();
    expect(await on('jobs').migrate()).toEqual({ applied: [] });
    const attempt = await on('Jobs').enqueue(harness.pool, Notes.write, { n: 1 });
    expect((await on('jobs').get(attempt.id))?.id).toBe(attempt.id);
    const worker = on('jobs').worker({ pollIntervalMs: 20 });
    await worker.start();
    await worker.stop();
  });
});
