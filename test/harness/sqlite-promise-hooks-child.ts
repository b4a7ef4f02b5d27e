// Child of test/integration/sqlite-promise-hooks.test.ts: a fresh process (no test runner's own
// async context) that drains tasks through the better-sqlite3 driver, then reports whether
// promise hooks are on (an async id per promise continuation) after plain runs and after a
// handler's ctx.transaction.
import { executionAsyncId } from 'node:async_hooks';
import { AsyncTask, defineTarget, type TaskContext } from '../../src/index.js';
import { betterSqlite3Driver } from '../../src/drivers/better-sqlite3.js';
import { Database, tempDatabaseFile } from './sqlite.js';

/** Async ids seen after two awaits: all 0 while no promise hook is installed. */
async function promiseAsyncIds(): Promise<number[]> {
  const ids = [executionAsyncId()];
  await Promise.resolve();
  ids.push(executionAsyncId());
  await Promise.resolve();
  ids.push(executionAsyncId());
  return ids;
}

const { file, remove } = tempDatabaseFile();
const db = new Database(file);
const driver = betterSqlite3Driver(db);
const Work = defineTarget('Work', {
  noop(_args: { n: number }) {},
  write(args: { n: number }, ctx: TaskContext) {
    return ctx.transaction((tx) => {
      (tx as typeof db).prepare('INSERT INTO notes (n) VALUES (?)').run(args.n);
      return Promise.resolve();
    });
  },
});
const tasks = new AsyncTask({ driver, targets: [Work] });
try {
  await tasks.migrate();
  db.exec('CREATE TABLE notes (n INTEGER)');
  await tasks.enqueueMany(
    db,
    Array.from({ length: 200 }, (_, n) => ({ method: Work.noop, args: { n } })),
  );
  const plain = await tasks.runDue();
  const afterPlain = await promiseAsyncIds();
  await tasks.enqueueMany(
    db,
    Array.from({ length: 20 }, (_, n) => ({ method: Work.write, args: { n } })),
  );
  const transactional = await tasks.runDue();
  const afterTransactions = await promiseAsyncIds();
  const notes = (db.prepare('SELECT count(*) AS n FROM notes').get() as { n: number }).n;
  process.stdout.write(
    JSON.stringify({
      succeeded: plain.succeeded + transactional.succeeded,
      notes,
      afterPlain,
      afterTransactions,
    }) + '\n',
  );
} finally {
  await driver.close();
  db.close();
  remove();
}
