// `async-task schedules` lists a targets module's recurring tasks; `async-task worker` runs them.
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../harness/wait-for.js';
import { sqliteCliDatabase, type CliDatabase } from './databases.js';
import { runCli, spawnCli } from './run-cli.js';

const module = 'test/cli/fixtures/schedules.ts';

describe('async-task schedules', () => {
  it('lists each schedule with its next runs, in its time zone and as instants', async () => {
    const json = await runCli(['schedules', '--targets', module, '--next', '2', '--json']);
    expect(json.stderr).toBe('');
    const listed = JSON.parse(json.stdout) as { name: string; next: string[] }[];
    expect(listed.map((entry) => entry.name)).toEqual(['nightly-report', 'beat']);
    expect(listed[0]).toMatchObject({
      cron: '0 3 * * *',
      timezone: 'Europe/Berlin',
      target: 'Reports',
      method: 'nightly',
      queue: 'reports',
      catchUp: 1,
    });
    // No queue in the schedule, its method or the module's defaults: the worker's ticks go to
    // 'default', and the listing says so.
    expect(listed[1]).toMatchObject({ name: 'beat', queue: 'default' });
    // 03:00 in Berlin is 01:00 or 02:00 UTC, a day apart.
    const [first, second] = listed[0]!.next.map((iso) => new Date(iso));
    expect([1, 2]).toContain(first!.getUTCHours());
    expect(first!.getTime()).toBeGreaterThan(Date.now());
    expect(second!.getTime() - first!.getTime()).toBeGreaterThanOrEqual(23 * 3_600_000);

    const text = await runCli(['schedules', '--targets', module]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^name +cron +time zone +method +next run$/m);
    expect(text.stdout).toMatch(
      /^nightly-report +0 3 \* \* \* +Europe\/Berlin +Reports\.nightly +\d{4}-\d\d-\d\d 03:00:00 /m,
    );
  });

  it('says in one line what is wrong with a schedule, or that there are none', async () => {
    const bad = await runCli(['schedules', '--targets', 'test/cli/fixtures/bad-schedule.ts']);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/schedule 'bad': cron "61 \* \* \* \*" is not a valid pattern/);

    const none = await runCli(['schedules', '--targets', 'test/cli/fixtures/targets.ts']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/exports no schedules: export `schedules`/);
  });
});

describe('async-task worker with schedules', () => {
  let db: CliDatabase;
  beforeAll(async () => {
    db = await sqliteCliDatabase();
    expect((await runCli(['migrate', ...db.args])).code).toBe(0);
  });
  afterAll(async () => {
    await db?.close();
  });

  it('enqueues and performs the ticks of the module’s schedules', async () => {
    const child = spawnCli(['worker', ...db.args, '--targets', module, '--poll-interval', '50']);
    const exited = once(child, 'close');
    try {
      await waitFor(
        'two ticks of the per-second schedule to succeed',
        async () => {
          const done = await db.tasks.list({ status: 'succeeded' });
          return done.filter((a) => a.idempotenceToken?.startsWith('schedule:beat:')).length >= 2;
        },
        15_000,
      );
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    const all = await db.tasks.list({ limit: 100 });
    // The nightly tick is caught up (catchUp 1) into the reports queue, and waits for a worker of it.
    const nightly = all.filter((a) => a.idempotenceToken?.startsWith('schedule:nightly-report:'));
    expect(nightly).toHaveLength(1);
    expect(nightly[0]).toMatchObject({ queue: 'reports', methodName: 'nightly', maxAttempts: 3 });
  }, 30_000);
});
