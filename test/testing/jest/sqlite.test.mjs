// A user's jest suite on SQLite, importing the built package as 'async-task'. Run by
// jest-runner.test.ts with `node --experimental-vm-modules jest`; the last test fails on purpose,
// to show what jest prints for an expectEnqueued that does not hold.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import Database from 'better-sqlite3';
import { AsyncTask, defineTarget } from 'async-task';
import { betterSqlite3Driver } from 'async-task/better-sqlite3';
import { drain, expectEnqueued } from 'async-task/testing';

const sent = [];
const Mailer = defineTarget('Mailer', {
  send(args) {
    sent.push(args.to);
  },
});

const folder = mkdtempSync(join(tmpdir(), 'async-task-jest-'));
const db = new Database(join(folder, 'app.db'));
const driver = betterSqlite3Driver(db);
const tasks = new AsyncTask({ driver, targets: [Mailer] });

beforeAll(async () => {
  await tasks.migrate();
});

afterAll(async () => {
  await driver.close();
  db.close();
  rmSync(folder, { recursive: true, force: true });
});

test('sqlite: expectEnqueued, then drain runs it', async () => {
  await tasks.enqueue(db, Mailer.send, { to: 'a@example.com' });
  await expectEnqueued(tasks, Mailer.send, { args: { to: 'a@example.com' } });
  const { runs } = await drain(tasks);
  expect(runs.map((run) => run.outcome)).toEqual(['succeeded']);
  expect(sent).toEqual(['a@example.com']);
});

test('sqlite: a failing expectEnqueued shows the diff', async () => {
  await tasks.enqueue(db, Mailer.send, { to: 'c@example.com' });
  await expectEnqueued(tasks, Mailer.send, { args: { to: 'someone@example.com' } });
});
