// The dashboard's "Schedules and limits" page and its API on each dialect, without a browser:
// schedules with their next ticks and the newest tick enqueued, queue limits with what runs now,
// empty states, escaping, read-only mode and authorization. (Beside handler.test.ts, which covers
// the other pages.)
import { describe, expect, it } from 'vitest';
import { checkSchedules } from '../../src/core/schedule.js';
import { defineTarget } from '../../src/index.js';
import { dashboard } from '../../src/dashboard/index.js';
import { schedulesPage } from '../../src/dashboard/pages/schedules.js';
import type { QueueLimit, ScheduleRow } from '../../src/dashboard/schedules-data.js';
import { mysqlFixture } from '../harness/mysql.js';
import { migratedTasks, newTasks } from '../harness/new-tasks.js';
import { postgresFixture } from '../harness/postgres.js';
import { sqliteFixture } from '../harness/sqlite.js';
import { useHarness } from '../harness/use-harness.js';
import { useWorkers } from '../harness/use-workers.js';
import { waitFor } from '../harness/wait-for.js';
import { DashboardClient } from './dashboard-client.js';

const admin = { 'x-admin': 'yes' };
const hostileKey = '<img src=x onerror=alert(1)>';

interface ScheduleJson {
  readonly name: string;
  readonly cron: string;
  readonly timezone: string;
  readonly target: string | null;
  readonly method: string | null;
  readonly queue: string | null;
  readonly catchUp: number;
  readonly next: { at: string; inZone: string }[];
  readonly lastTick: { tick: string; attemptId: string; status: string } | null;
}

interface LimitJson {
  readonly queue: string;
  readonly concurrency: number | null;
  readonly running: number;
  readonly keyConcurrency: number;
  readonly fairness: 'key' | null;
  readonly rateLimit: { limit: number; periodMs: number; perKey: boolean } | null;
  readonly started: { started: number; busiestKey: { key: string | null; started: number } | null };
  readonly pending: number;
}

for (const fixture of [postgresFixture, mysqlFixture, sqliteFixture]) {
  describe(`schedules and limits page on ${fixture.label}`, () => {
    const harness = useHarness(fixture);
    const track = useWorkers();

    it('lists schedules with their next ticks and the tick runDue enqueued, and limits with what runs now', async () => {
      let release = (): void => undefined;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const started: string[] = [];
      const reports = defineTarget('Reports', { nightly(_args: { kind: string }) {} });
      const mailer = defineTarget('Mailer', {
        async send(args: { to: string }) {
          started.push(args.to);
          await gate;
        },
      });
      const tasks = await migratedTasks(harness(), {
        targets: [reports, mailer],
        schedules: [
          {
            name: 'nightly-report',
            cron: '0 3 * * *',
            timezone: 'Europe/Berlin',
            method: reports.nightly,
            args: { kind: 'daily' },
            options: { queue: 'reports' },
          },
          {
            name: 'digest',
            cron: '*/10 * * * * *',
            method: mailer.send,
            args: { to: 'digest@example.com' },
            catchUp: 0,
          },
        ],
        queues: {
          mail: {
            concurrency: 2,
            keyConcurrency: 1,
            fairness: 'key',
            rateLimit: { limit: 10, periodMs: 60_000, perKey: true },
          },
          reports: { concurrency: 5 },
        },
      });
      const handle = dashboard(tasks, {
        authorize: (request) => request.headers.get('x-admin') === 'yes',
        basePath: '/tasks',
      });
      const browser = new DashboardClient(handle, admin);

      const before = new Date();
      await tasks.runDue({ queues: ['reports'] });
      const { schedules } = await browser.json<{ schedules: ScheduleJson[] }>(
        '/tasks/api/schedules',
      );
      const [nightly, digest] = schedules;
      const [tickAttempt] = await tasks.list({ queue: 'reports' });
      expect(tickAttempt?.idempotenceToken).toMatch(/^schedule:nightly-report:/);
      expect(nightly).toMatchObject({
        name: 'nightly-report',
        cron: '0 3 * * *',
        timezone: 'Europe/Berlin',
        target: 'Reports',
        method: 'nightly',
        queue: 'reports',
        catchUp: 1,
        lastTick: {
          tick: tickAttempt!.idempotenceToken!.slice('schedule:nightly-report:'.length),
          attemptId: tickAttempt!.id,
          status: 'succeeded',
        },
      });
      expect(nightly!.next).toHaveLength(3);
      for (const tick of nightly!.next) {
        expect(new Date(tick.at).getTime()).toBeGreaterThan(before.getTime());
        // 03:00 in Berlin is 02:00 or 01:00 UTC, whatever the season.
        expect(tick.inZone).toMatch(/^\d{4}-\d\d-\d\d 03:00:00 GMT\+[12]$/);
        expect(new Date(tick.at).getUTCHours()).toBeOneOf([1, 2]);
      }
      // catchUp 0 on a first pass: nothing enqueued; its queue is the AsyncTask's default.
      expect(digest).toMatchObject({ name: 'digest', queue: 'default', lastTick: null });
      expect(digest!.next.map((tick) => new Date(tick.at).getUTCSeconds() % 10)).toEqual([0, 0, 0]);

      // Before any worker runs: a worker's scheduler enqueues the digest at its next 10 s tick.
      const unticked = (await (await browser.get('/tasks/schedules')).text()).replace(/\s+/g, ' ');
      expect(unticked).toContain('none in the table');

      await harness().transaction((tx) =>
        tasks.enqueueMany(
          tx,
          ['k1', 'k1', 'k2', hostileKey, hostileKey].map((key, n) => ({
            method: mailer.send,
            args: { to: `${n}@example.com` },
            options: { queue: 'mail', concurrencyKey: key },
          })),
        ),
      );
      const worker = track(tasks.worker({ concurrency: 10, queues: ['mail'], pollIntervalMs: 50 }));
      await worker.start();
      await waitFor('two mails to start (the queue limit)', () => started.length >= 2);
      const { limits } = await browser.json<{ limits: LimitJson[] }>('/tasks/api/limits');
      expect(limits).toEqual([
        {
          queue: 'mail',
          concurrency: 2,
          running: 2,
          keyConcurrency: 1,
          fairness: 'key',
          rateLimit: { limit: 10, periodMs: 60_000, perKey: true },
          started: { started: 2, busiestKey: { key: 'k1', started: 1 } },
          pending: 3,
        },
        {
          queue: 'reports',
          concurrency: 5,
          running: 0,
          keyConcurrency: 1,
          fairness: null,
          rateLimit: null,
          started: null,
          pending: 0,
        },
      ]);

      const page = await browser.get('/tasks/schedules');
      expect(page.status).toBe(200);
      const html = (await page.text()).replace(/\s+/g, ' ');
      expect(html).toContain('<title>Schedules and limits · async-task</title>');
      expect(html).toContain('href="/tasks/schedules"');
      expect(html).toContain('nightly-report');
      expect(html).toContain(`href="/tasks/attempts/${tickAttempt!.id}"`);
      expect(html).toContain('every process that runs workers must be given the same');
      expect(html).toContain('10 per 1 min, per key');
      expect(html).toContain('<td class="count"> 2 / 2 </td>');
      expect(html).not.toMatch(/<script>|<script [^>]*>[^<]/);
      release();
      await worker.stop();
    });

    it('escapes a hostile concurrency key, shows empty states, read-only, and 401 without authorization', async () => {
      const mailer = defineTarget('Mailer', { send(_args: { to: string }) {} });
      const limited = await migratedTasks(harness(), {
        targets: [mailer],
        queues: { mail: { rateLimit: { limit: 5, periodMs: 90_000, perKey: true } } },
      });
      await harness().transaction((tx) =>
        limited.enqueue(
          tx,
          mailer.send,
          { to: 'x' },
          { queue: 'mail', concurrencyKey: hostileKey },
        ),
      );
      await limited.runDue();
      const open = new DashboardClient(dashboard(limited, { authorize: () => true }));
      const html = (await open.text('/schedules')).replace(/\s+/g, ' ');
      expect(html).not.toContain(hostileKey);
      expect(html).toContain('busiest key &lt;img src=x onerror=alert(1)&gt;: 1 / 5');
      expect(html).toContain('5 per 90 s, per key');
      expect(html).toContain('No schedules configured.');
      expect((await open.json<{ schedules: unknown[] }>('/api/schedules')).schedules).toEqual([]);

      const bare = newTasks(harness(), { targets: [mailer] });
      const readOnly = new DashboardClient(
        dashboard(bare, { readOnly: true, allowUnauthenticated: true }),
      );
      const empty = await readOnly.text('/schedules');
      expect(empty).toContain('No schedules configured.');
      expect(empty).toContain('No queue limits configured.');
      expect(await readOnly.json('/api/limits')).toEqual({ limits: [] });

      const guarded = new DashboardClient(
        dashboard(limited, { authorize: (request) => request.headers.get('x-admin') === 'yes' }),
      );
      expect((await guarded.get('/schedules')).status).toBe(401);
      for (const path of ['/api/schedules', '/api/limits']) {
        const refused = await guarded.get(path, 'application/json');
        expect(refused.status).toBe(401);
        expect(await refused.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
      }
    });
  });
}

describe('schedules and limits page', () => {
  it('escapes every value it shows, names included', async () => {
    // Names are validated (a ConfigError for these characters), so the page is given them
    // directly: escaping must not depend on that validation.
    expect(() =>
      checkSchedules([{ name: '<b>', cron: '* * * * *', method: null, args: {} }]),
    ).toThrow(/name must be 1-100 letters, digits or _.:-/);
    const hostile = '<script>alert(1)</script>';
    const schedule: ScheduleRow = {
      name: hostile,
      cron: hostile,
      timezone: hostile,
      target: hostile,
      method: hostile,
      queue: hostile,
      catchUp: 1,
      next: [{ at: new Date(0), inZone: hostile }],
      lastTick: { tick: new Date(0), attemptId: hostile, status: 'pending' },
    };
    const limit: QueueLimit = {
      queue: hostile,
      concurrency: 1,
      running: 0,
      keyConcurrency: 1,
      fairness: null,
      rateLimit: { limit: 1, periodMs: 1000, perKey: true },
      started: { started: 1, busiestKey: { key: hostile, started: 1 } },
      pending: 0,
    };
    const page = await schedulesPage({ base: '', csrf: 'c', readOnly: false }, [schedule], [limit]);
    const html = page.toString();
    expect(html).not.toContain('<script>alert');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });
});
