// `async-task dashboard --targets`: the Schedules and limits page of the CLI's dashboard shows
// the module's schedules and queue limits, as the workers run them.
import { once } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqliteCliDatabase, type CliDatabase } from './databases.js';
import { CliFixture } from './fixtures/targets.js';
import { dashboardLoginUrl, runCli, spawnCli } from './run-cli.js';

/** Starts the CLI's dashboard and signs in with its one-time URL; returns a GET for its API. */
async function serveDashboard(
  args: readonly string[],
): Promise<{ child: ChildProcess; get: (path: string) => Promise<unknown> }> {
  const child = spawnCli(['dashboard', '--port', '0', ...args]);
  const loginUrl = await dashboardLoginUrl(child);
  const login = await fetch(loginUrl, { redirect: 'manual' });
  expect(login.status).toBe(303);
  const cookie = login.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  const origin = new URL(loginUrl).origin;
  return {
    child,
    async get(path) {
      const response = await fetch(`${origin}${path}`, { headers: { cookie } });
      expect(response.status, path).toBe(200);
      return response.json();
    },
  };
}

describe('async-task dashboard --targets', () => {
  let db: CliDatabase;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    db = await sqliteCliDatabase();
    expect((await runCli(['migrate', ...db.args])).code).toBe(0);
  });
  afterAll(async () => {
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null) return;
        const exited = once(child, 'close');
        child.kill('SIGTERM');
        await exited;
      }),
    );
    await db?.close();
  });

  it("shows the module's schedules and queue limits", async () => {
    await db.tasks.enqueue(db.pool, CliFixture.record, { n: 1 }, { queue: 'keyed-q' });
    const { child, get } = await serveDashboard([
      ...db.args,
      '--targets',
      'test/cli/fixtures/limits.ts',
    ]);
    children.push(child);
    const { schedules } = (await get('/api/schedules')) as {
      schedules: { name: string; cron: string; target: string; method: string }[];
    };
    expect(schedules).toMatchObject([
      { name: 'new-year', cron: '0 0 1 1 *', target: 'CliFixture', method: 'record' },
    ]);
    const { limits } = (await get('/api/limits')) as { limits: unknown[] };
    expect(limits).toEqual([
      {
        queue: 'keyed-q',
        concurrency: null,
        running: 0,
        keyConcurrency: 2,
        fairness: 'key',
        rateLimit: null,
        started: null,
        pending: 1,
      },
      {
        queue: 'limited-q',
        concurrency: null,
        running: 0,
        keyConcurrency: 1,
        fairness: null,
        rateLimit: { limit: 1, periodMs: 600_000, perKey: false },
        started: { started: 0, busiestKey: null },
        pending: 0,
      },
    ]);
  });

  it('shows none without a targets module', async () => {
    const { child, get } = await serveDashboard(db.args);
    children.push(child);
    expect(await get('/api/schedules')).toEqual({ schedules: [] });
    expect(await get('/api/limits')).toEqual({ limits: [] });
  });
});
