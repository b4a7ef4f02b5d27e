// What the three dashboard examples share: an app's AsyncTask on PostgreSQL (a schema of its own,
// dropped by `close`) with a few tasks in it, an `authorize` (here: a bearer token; use your
// app's own session check), and a check that the mounted dashboard answers and acts.
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm start
import pg from 'pg';
import { AsyncTask, defineTarget } from 'async-task';
import { pgDriver } from 'async-task/pg';

export const Mailer = defineTarget('Mailer', {
  async send(args: { to: string }) {
    if (args.to.endsWith('.invalid')) throw new Error(`no such domain: ${args.to}`);
  },
});

export async function shopTasks() {
  const pool = new pg.Pool({
    connectionString: process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test',
  });
  const schema = `example_dashboard_${process.pid}`;
  await pool.query(`CREATE SCHEMA ${schema}`);
  const tasks = new AsyncTask({
    driver: pgDriver(pool),
    targets: [Mailer],
    table: `${schema}.async_task_attempts`,
  });
  await tasks.migrate();
  await tasks.enqueue(pool, Mailer.send, { to: 'a@example.com' });
  await tasks.enqueue(pool, Mailer.send, { to: 'b@example.invalid' }, { maxAttempts: 1 });
  await tasks.runDue();
  const close = async () => {
    await pool.query(`DROP SCHEMA ${schema} CASCADE`);
    await pool.end();
  };
  return { tasks, close };
}

const adminToken = 'example-admin-token';

/** Lets in requests that carry the admin token. */
export const authorize = (request: Request): boolean =>
  request.headers.get('authorization') === `Bearer ${adminToken}`;

/**
 * Fetches the dashboard at `url` as an admin and as a stranger, then retries the failed attempt
 * through its form (CSRF token, cookie and Origin, as a browser sends them), and says what it saw.
 */
export async function check(framework: string, url: string): Promise<void> {
  const admin = { authorization: `Bearer ${adminToken}`, accept: 'text/html' };
  const queues = await fetch(url, { headers: admin });
  const stranger = await fetch(url);
  const failed = await fetch(`${url}/api/attempts?status=failed`, { headers: admin });
  const [attempt] = ((await failed.json()) as { attempts: { id: string; lastError: string }[] })
    .attempts;
  if (queues.status !== 200 || stranger.status !== 401 || !attempt) {
    throw new Error(`${framework}: ${queues.status}, ${stranger.status}, ${String(attempt)}`);
  }
  const page = await fetch(`${url}/attempts/${attempt.id}`, { headers: admin });
  const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())?.[1] ?? '';
  const cookie = page.headers
    .getSetCookie()
    .map((line) => line.split(';')[0])
    .join('; ');
  const retry = await fetch(`${url}/actions/retry`, {
    method: 'POST',
    redirect: 'manual',
    headers: { ...admin, cookie, origin: new URL(url).origin },
    body: new URLSearchParams({ id: attempt.id, csrf, confirmed: 'yes' }),
  });
  const after = await fetch(`${url}/api/attempts/${attempt.id}`, { headers: admin });
  const { status } = (await after.json()) as { status: string };
  if (retry.status !== 303 || status !== 'pending') {
    throw new Error(`${framework}: retry answered ${retry.status}, attempt is ${status}`);
  }
  console.log(`${framework}: dashboard at ${url} (200 for the admin, 401 for a stranger)`);
  console.log(`  retried attempt ${attempt.id} (${attempt.lastError}): now ${status}`);
}
