// What the three dashboard examples share: an app's AsyncTask on SQLite with a few tasks in it,
// an `authorize` (here: a bearer token; use your app's own session check), and a check that the
// mounted dashboard answers.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { AsyncTask, defineTarget } from 'async-task';
import { betterSqlite3Driver } from 'async-task/better-sqlite3';

export const Mailer = defineTarget('Mailer', {
  async send(args: { to: string }) {
    if (args.to.endsWith('.invalid')) throw new Error(`no such domain: ${args.to}`);
  },
});

export async function shopTasks() {
  const db = new Database(join(mkdtempSync(join(tmpdir(), 'async-task-dashboard-')), 'shop.db'));
  const tasks = new AsyncTask({ driver: betterSqlite3Driver(db), targets: [Mailer] });
  await tasks.migrate();
  await tasks.enqueue(db, Mailer.send, { to: 'a@example.com' });
  await tasks.enqueue(db, Mailer.send, { to: 'b@example.invalid' }, { maxAttempts: 1 });
  await tasks.runDue();
  return tasks;
}

const adminToken = 'example-admin-token';

/** Lets in requests that carry the admin token. */
export const authorize = (request: Request): boolean =>
  request.headers.get('authorization') === `Bearer ${adminToken}`;

/** Fetches the dashboard's pages at `url` as an admin and as a stranger, and says what it saw. */
export async function check(framework: string, url: string): Promise<void> {
  const admin = { authorization: `Bearer ${adminToken}`, accept: 'text/html' };
  const queues = await fetch(url, { headers: admin });
  const failed = await fetch(`${url}/api/attempts?status=failed`, { headers: admin });
  const stranger = await fetch(url);
  const attempts = ((await failed.json()) as { attempts: { lastError: string }[] }).attempts;
  if (queues.status !== 200 || stranger.status !== 401 || attempts.length !== 1) {
    throw new Error(`${framework}: ${queues.status}, ${stranger.status}, ${attempts.length}`);
  }
  console.log(`${framework}: dashboard at ${url} (200 for the admin, 401 for a stranger)`);
  console.log(`  failed attempt: ${attempts[0]!.lastError}`);
}
