// Testing code that enqueues, with async-task/testing and node:test (vitest and jest work the
// same way): what was enqueued, what the tasks then did, retries, and inline mode.
//   npm test
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import Database from 'better-sqlite3';
import { AsyncTask, defineTarget } from 'async-task';
import { betterSqlite3Driver, type BetterSqlite3Driver } from 'async-task/better-sqlite3';
import { advanceTime, drain, expectEnqueued, runInline } from 'async-task/testing';

// The application's code: a mailer target, and a sign-up that enqueues a welcome mail.
const sent: string[] = [];
let mailServerDown = false;
const Mailer = defineTarget('Mailer', {
  send(args: { to: string; template: 'welcome' | 'reset' }) {
    if (mailServerDown) throw new Error('mail server unavailable');
    sent.push(`${args.template}:${args.to}`);
  },
});

function signUp(tasks: Tasks, db: Database.Database, email: string): void {
  db.transaction(() => {
    db.prepare('INSERT INTO users (email) VALUES (?)').run(email);
    void tasks.enqueue(db, Mailer.send, { to: email, template: 'welcome' });
  })();
}

function newTasks(driver: BetterSqlite3Driver<Database.Database>) {
  return new AsyncTask({ driver, targets: [Mailer] });
}
type Tasks = ReturnType<typeof newTasks>;

// Each test gets its own database file.
let folder: string;
let db: Database.Database;
let driver: BetterSqlite3Driver<Database.Database>;
let tasks: Tasks;

beforeEach(async () => {
  folder = mkdtempSync(join(tmpdir(), 'async-task-example-test-'));
  db = new Database(join(folder, 'app.db'));
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE users (email TEXT PRIMARY KEY)');
  driver = betterSqlite3Driver(db);
  tasks = newTasks(driver);
  await tasks.migrate();
  sent.length = 0;
  mailServerDown = false;
});

afterEach(async () => {
  await driver.close();
  db.close();
  rmSync(folder, { recursive: true, force: true });
});

await test('sign-up enqueues a welcome mail, and drain sends it', async () => {
  signUp(tasks, db, 'a@example.com');
  await expectEnqueued(tasks, Mailer.send, { args: { to: 'a@example.com', template: 'welcome' } });

  const { runs } = await drain(tasks);
  assert.deepEqual(
    runs.map((run) => [run.method, run.outcome]),
    [['send', 'succeeded']],
  );
  assert.deepEqual(sent, ['welcome:a@example.com']);
  await expectEnqueued(tasks, Mailer.send, { count: 0 });
});

await test('a failed send is retried after its backoff', async () => {
  signUp(tasks, db, 'b@example.com');
  mailServerDown = true;
  assert.equal((await drain(tasks)).retried, 1);
  mailServerDown = false;
  assert.equal((await drain(tasks)).runs.length, 0); // still waiting out its backoff
  await advanceTime(tasks, 60_000);
  assert.equal((await drain(tasks)).succeeded, 1);
  assert.deepEqual(sent, ['welcome:b@example.com']);
});

await test('inline: mail goes out when the sign-up commits, never when it rolls back', async () => {
  const inline = runInline(tasks);
  try {
    signUp(tasks, db, 'c@example.com');
    const changedMind = db.transaction(() => {
      void tasks.enqueue(db, Mailer.send, { to: 'd@example.com', template: 'reset' });
      throw new Error('changed my mind');
    });
    assert.throws(changedMind, /changed my mind/); // rolled back, with its task
    await inline.idle();
    assert.deepEqual(sent, ['welcome:c@example.com']);
  } finally {
    await inline.stop();
  }
});
