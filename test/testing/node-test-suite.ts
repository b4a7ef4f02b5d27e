// A user's node:test suite using async-task/testing, run by node-test-runner.test.ts with
// `node --import tsx --test`. With SHOW_DIFF=1 it also runs an assertion meant to fail, to show
// what node:test prints.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  betterSqlite3Driver,
  type BetterSqlite3Database,
} from '../../src/drivers/better-sqlite3.js';
import { AsyncTask, defineTarget } from '../../src/index.js';
import { drain, expectEnqueued, runInline } from '../../src/testing/index.js';

interface Database extends BetterSqlite3Database {
  close(): void;
}
const Database = createRequire(import.meta.url)('better-sqlite3') as new (file: string) => Database;

const sent: string[] = [];
const Mailer = defineTarget('Mailer', {
  send(args: { to: string }) {
    sent.push(args.to);
  },
});

const folder = mkdtempSync(join(tmpdir(), 'async-task-node-test-'));
const db = new Database(join(folder, 'app.db'));
const driver = betterSqlite3Driver(db);
const tasks = new AsyncTask({ driver, targets: [Mailer] });

before(async () => {
  await tasks.migrate();
});

after(async () => {
  await driver.close();
  db.close();
  rmSync(folder, { recursive: true, force: true });
});

void test('expectEnqueued then drain', async () => {
  await tasks.enqueue(db, Mailer.send, { to: 'a@example.com' });
  await expectEnqueued(tasks, Mailer.send, { args: { to: 'a@example.com' } });
  const { runs } = await drain(tasks);
  assert.deepEqual(
    runs.map((run) => run.outcome),
    ['succeeded'],
  );
  assert.deepEqual(sent, ['a@example.com']);
});

void test('runInline', async () => {
  const inline = runInline(tasks);
  try {
    await tasks.enqueue(db, Mailer.send, { to: 'b@example.com' });
    await inline.idle();
    assert.deepEqual(sent, ['a@example.com', 'b@example.com']);
  } finally {
    await inline.stop();
  }
});

if (process.env['SHOW_DIFF'] === '1') {
  void test('a failing expectation', async () => {
    await tasks.enqueue(db, Mailer.send, { to: 'c@example.com' });
    await expectEnqueued(tasks, Mailer.send, { args: { to: 'someone@example.com' } });
  });
}
