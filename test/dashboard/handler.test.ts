// The dashboard's handler on each dialect, without a browser: pages and API read the real table,
// actions change it, and the security rules hold (401, 403 without CSRF or origin, read-only).
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  aesGcmEncryptor,
  ConfigError,
  defineTarget,
  type Attempt,
  type TaskContext,
} from '../../src/index.js';
import { dashboard, DashboardForbiddenError } from '../../src/dashboard/index.js';
import { mysqlFixture } from '../harness/mysql.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { postgresFixture } from '../harness/postgres.js';
import { sqliteFixture } from '../harness/sqlite.js';
import { useHarness } from '../harness/use-harness.js';
import type { Harness } from '../harness/fixture.js';
import { DashboardClient, origin } from './dashboard-client.js';

const key = randomBytes(32).toString('base64');
const secret = 'card 4111-1111-1111-1111';
const admin = { 'x-admin': 'yes' };

interface Page {
  readonly attempts: Attempt[];
  readonly next: string | null;
}

/** A table with a failure (whose message is HTML), a success, pending work and an encrypted task. */
async function seeded(harness: Harness) {
  const orders = defineTarget('Orders', { fulfill(_args: { n: number }) {} });
  const mailer = defineTarget('Mailer', {
    send(_args: { to: string }) {
      throw new Error('<img src=x onerror=alert(1)> smtp down');
    },
  });
  const payments = defineTarget('Payments', { charge(_args: { card: string }) {} });
  const logged: { object: object; message: string | undefined }[] = [];
  const info = (object: object, message?: string) => logged.push({ object, message });
  const tasks = await migratedTasks(harness, {
    targets: [orders, mailer, payments],
    encryptors: { aes: aesGcmEncryptor({ keys: { k1: key }, current: 'k1' }) },
    logger: { debug: () => undefined, info, warn: info, error: info },
  });
  const later = new Date(Date.now() + 3_600_000);
  const [done, failed, encrypted] = await harness.transaction(async (tx) => [
    await tasks.enqueue(tx, orders.fulfill, { n: 1 }),
    await tasks.enqueue(
      tx,
      mailer.send,
      { to: 'a@example.com' },
      { maxAttempts: 1, idempotenceToken: 'mail-1' },
    ),
    await tasks.enqueue(
      tx,
      payments.charge,
      { card: secret },
      { encryptor: 'aes', scheduledAt: later },
    ),
  ]);
  await harness.transaction((tx) =>
    tasks.enqueueMany(
      tx,
      Array.from({ length: 53 }, (_, n) => ({
        method: orders.fulfill,
        args: { n },
        options: { queue: 'bulk', scheduledAt: later },
      })),
    ),
  );
  await tasks.runDue({ queues: ['default'] });
  return { tasks, done: done, failed: failed, encrypted: encrypted, logged, orders };
}

for (const fixture of [postgresFixture, mysqlFixture, sqliteFixture]) {
  describe(`dashboard on ${fixture.label}`, () => {
    const harness = useHarness(fixture);

    it('shows queues, charts data, filtered and paged attempts, and one attempt', async () => {
      const { tasks, done, failed, encrypted } = await seeded(harness());
      const handle = dashboard(tasks, {
        authorize: (request) => request.headers.get('x-admin') === 'yes',
        basePath: '/tasks',
      });
      const browser = new DashboardClient(handle, admin);

      expect((await new DashboardClient(handle).get('/tasks/')).status).toBe(401);
      const api = await new DashboardClient(handle).get('/tasks/api/queues', 'application/json');
      expect(api.status).toBe(401);
      expect(await api.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });

      const home = await browser.get('/tasks/');
      expect(home.status).toBe(200);
      expect(home.headers.get('content-security-policy')).toContain("script-src 'self'");
      const homeHtml = await home.text();
      expect(homeHtml).toContain('href="/tasks/attempts?status=pending&amp;queue=bulk"');
      expect(homeHtml).not.toMatch(/<script>|<script [^>]*>[^<]/); // scripts only as files

      const { queues } = await browser.json<{ queues: { queue: string; counts: object }[] }>(
        '/tasks/api/queues',
      );
      expect(queues).toEqual([
        { queue: 'bulk', counts: { pending: { count: 53, approximate: false } } },
        {
          queue: 'default',
          counts: {
            pending: { count: 1, approximate: false },
            succeeded: { count: 1, approximate: false },
            failed: { count: 1, approximate: false },
          },
        },
      ]);
      const outcomes = await browser.json<{
        minutes: number[];
        succeeded: number[];
        failed: number[];
      }>('/tasks/api/outcomes');
      expect(outcomes.minutes).toHaveLength(60);
      expect([sum(outcomes.succeeded), sum(outcomes.failed)]).toEqual([1, 1]);

      const byFilter = async (query: string) =>
        (await browser.json<Page>(`/tasks/api/attempts?${query}`)).attempts.map((a) => a.id);
      expect(await byFilter('status=failed')).toEqual([failed.id]);
      expect(await byFilter('token=mail-1')).toEqual([failed.id]);
      expect(await byFilter('target=Orders&method=fulfill&queue=default')).toEqual([done.id]);
      expect(await byFilter('status=succeeded&queue=bulk')).toEqual([]);
      const first = await browser.json<Page>('/tasks/api/attempts?queue=bulk');
      expect(first.attempts).toHaveLength(50);
      const second = await browser.json<Page>(
        `/tasks/api/attempts?queue=bulk&before=${first.next}`,
      );
      expect([second.attempts.length, second.next]).toEqual([3, null]);
      expect(
        (await browser.get('/tasks/api/attempts?status=nope', 'application/json')).status,
      ).toBe(400);
      // PostgreSQL refused a NUL in the statement: a 500 where every other bad filter is a 400.
      for (const query of ['token=%00', 'queue=%00abc', 'target=a%00', 'method=a%00b']) {
        const refused = await browser.get(`/tasks/api/attempts?${query}`, 'application/json');
        expect(refused.status, query).toBe(400);
      }

      const failedPage = await browser.text(`/tasks/attempts/${failed.id}`);
      expect(failedPage).toContain('&lt;img src=x onerror=alert(1)&gt; smtp down');
      expect(failedPage).not.toContain('<img src=x');
      expect(failedPage).toContain('a@example.com'); // plain arguments are shown
      for (const page of [
        await browser.text(`/tasks/attempts/${encrypted.id}`),
        JSON.stringify(await browser.json(`/tasks/api/attempts/${encrypted.id}`)),
        await browser.text('/tasks/attempts?target=Payments'),
      ]) {
        expect(page).toContain('Payments');
        expect(page).not.toContain(secret);
        expect(page).not.toContain('4111');
      }
      expect((await browser.get('/tasks/attempts/999999')).status).toBe(404);
    });

    it('lists live workers on /workers, the queues page and the API, escaped', async () => {
      const { tasks } = await seeded(harness());
      const worker = tasks.worker({ id: '<i>w1</i>', concurrency: 3, queues: ['bulk'] });
      await worker.start();
      try {
        // A row as another deployment (or a hand-made write) may leave it: not what a worker
        // validates.
        const hostile = '<img src=x onerror=alert(1)>';
        await harness().driver.run((connection) =>
          tasks.runtime.executor(connection).workerBeat({
            id: 'w2',
            hostname: `${hostile}.example`,
            pid: 4242,
            queues: [hostile],
            concurrency: 5,
            running: 2,
            aliveMs: 60_000,
          }),
        );
        const browser = new DashboardClient(dashboard(tasks, { authorize: () => true }));

        const page = await browser.text('/workers');
        expect(page).toContain('&lt;i&gt;w1&lt;/i&gt;');
        expect(page).toContain('&lt;img src=x onerror=alert(1)&gt;.example');
        expect(page).toContain('4242');
        expect(page).not.toContain('<img src=x');
        expect(page).not.toContain('<i>w1');
        const home = await browser.text('/');
        expect(home).toContain('&lt;i&gt;w1&lt;/i&gt;');
        expect(home).toContain('href="/workers"');
        expect(home).not.toContain('<img src=x');

        const { workers } = await browser.json<{ workers: Record<string, unknown>[] }>(
          '/api/workers',
        );
        expect(workers.map((w) => [w['id'], w['queues'], w['concurrency']])).toEqual([
          ['<i>w1</i>', ['bulk'], 3],
          ['w2', [hostile], 5],
        ]);
        const queuesApi = await browser.json<{ workers: { id: string }[] }>('/api/queues');
        expect(queuesApi.workers.map((w) => w.id)).toEqual(['<i>w1</i>', 'w2']);
      } finally {
        await worker.stop();
      }
      const { workers } = await new DashboardClient(
        dashboard(tasks, { authorize: () => true }),
      ).json<{ workers: { id: string }[] }>('/api/workers');
      expect(workers.map((w) => w.id)).toEqual(['w2']);
    });

    it('shows reported progress, escaped, in the attempts list, the attempt page and the API', async () => {
      const message = '<script>alert(1)</script> resized 4 of 10';
      const resizer = defineTarget('Resizer', {
        resize(_args: { n: number }, ctx: TaskContext) {
          ctx.progress(0.4, message);
        },
      });
      const tasks = await migratedTasks(harness(), { targets: [resizer] });
      const [reported, silent] = await harness().transaction(async (tx) => [
        await tasks.enqueue(tx, resizer.resize, { n: 1 }),
        await tasks.enqueue(tx, resizer.resize, { n: 2 }, { queue: 'later' }),
      ]);
      await tasks.runDue({ queues: ['default'] });
      const browser = new DashboardClient(dashboard(tasks, { authorize: () => true }));

      const escaped = '&lt;script&gt;alert(1)&lt;/script&gt; resized 4 of 10';
      const list = await browser.text('/attempts');
      expect(list).toContain('<th scope="col">progress</th>');
      expect(list).toContain('<progress max="1" value="0.4">40%</progress>');
      expect(list).toContain(`${escaped.slice(0, -1)}…`); // cut to 40 characters in the list
      const page = await browser.text(`/attempts/${reported.id}`);
      expect(page).toMatch(/<dt>progress<\/dt>\s*<dd><span class="progress"/);
      expect(page).toContain(escaped);
      for (const html of [list, page]) expect(html).not.toContain('<script>alert');
      expect(await browser.text(`/attempts/${silent.id}`)).toMatch(
        /<dt>progress<\/dt>\s*<dd>—<\/dd>/,
      );
      expect(await browser.json(`/api/attempts/${reported.id}`)).toMatchObject({
        progress: 0.4,
        progressMessage: message,
      });
    });

    it('the attempt page lists each recorded run on its timeline, hostile error text escaped', async () => {
      const flaky = defineTarget(
        'Flaky',
        {
          work(_args: { n: number }, ctx: TaskContext) {
            if (ctx.attempt.numAttempts < 3) {
              throw new Error(`<img src=x onerror=alert(${ctx.attempt.numAttempts})> run broke`);
            }
          },
        },
        { backoff: () => 0 },
      );
      const tasks = await migratedTasks(harness(), { targets: [flaky] });
      const { id } = await harness().transaction((tx) => tasks.enqueue(tx, flaky.work, { n: 1 }));
      for (let i = 0; i < 3; i++) await tasks.runDue();
      const browser = new DashboardClient(dashboard(tasks, { authorize: () => true }));

      const page = await browser.text(`/attempts/${id}`);
      const timeline = page.slice(page.indexOf('<ol class="timeline">'));
      expect(timeline).toContain('run 1: retried');
      expect(timeline).toContain('run 2: retried');
      expect(timeline).toMatch(/<dt>worker<\/dt>\s*<dd>[^<]+<\/dd>/);
      expect(timeline).toMatch(/<dt>duration<\/dt>\s*<dd>\d+ ms<\/dd>/);
      expect(timeline).toContain('&lt;img src=x onerror=alert(1)&gt; run broke');
      expect(timeline).toContain('&lt;img src=x onerror=alert(2)&gt; run broke');
      expect(timeline).toContain('succeeded after 3 run(s)');
      expect(page).not.toContain('<img src=x');
      expect(page).not.toContain('no per-run history');
      // In order: enqueued, run 1, run 2, the outcome.
      const order = ['enqueued', 'run 1: retried', 'run 2: retried', 'succeeded after 3'].map(
        (text) => timeline.indexOf(text),
      );
      expect(order).toEqual([...order].sort((a, b) => a - b));
      expect(await browser.json(`/api/attempts/${id}`)).toMatchObject({
        runs: [
          { n: 1, outcome: 'retried', startedAt: expect.any(String) as unknown },
          { n: 2, outcome: 'retried', startedAt: expect.any(String) as unknown },
        ],
      });
    });

    it('retries, expires and fails one at a time and by selection, confirmed and logged', async () => {
      const { tasks, failed, logged } = await seeded(harness());
      const handle = dashboard(tasks, { authorize: () => true });
      const browser = new DashboardClient(handle);
      const csrf = await browser.csrf(`/attempts/${failed.id}`);

      const noToken = await browser.post('/actions/retry', { id: failed.id, confirmed: 'yes' });
      expect(noToken.status).toBe(403);
      const wrongToken = await browser.post('/actions/retry', {
        id: failed.id,
        confirmed: 'yes',
        csrf: `${csrf}x`,
      });
      expect(wrongToken.status).toBe(403);
      const otherSite = await browser.post(
        '/actions/retry',
        { id: failed.id, confirmed: 'yes', csrf },
        { origin: 'https://evil.example' },
      );
      expect(otherSite.status).toBe(403);
      const noOrigin = await browser.post(
        '/actions/retry',
        { id: failed.id, confirmed: 'yes', csrf },
        {},
      );
      expect(noOrigin.status).toBe(403);
      const tokenElsewhere = new DashboardClient(handle);
      expect(
        (await tokenElsewhere.post('/actions/retry', { id: failed.id, confirmed: 'yes', csrf }))
          .status,
      ).toBe(403);
      expect((await tasks.get(failed.id))?.status).toBe('failed');

      const question = await browser.post('/actions/retry', { id: failed.id, csrf });
      expect(question.status).toBe(200);
      expect(await question.text()).toContain('name="confirmed" value="yes"');
      expect((await tasks.get(failed.id))?.status).toBe('failed');
      const retried = await browser.post('/actions/retry', {
        id: failed.id,
        csrf,
        confirmed: 'yes',
      });
      expect([retried.status, retried.headers.get('location')]).toEqual([
        303,
        `/attempts/${failed.id}`,
      ]);
      expect((await tasks.get(failed.id))?.status).toBe('pending');
      const again = await browser.post('/actions/retry', { id: failed.id, csrf, confirmed: 'yes' });
      expect(again.status).toBe(303); // no longer failed: skipped, not an error page
      expect((await tasks.get(failed.id))?.status).toBe('pending');

      const selection = { scope: 'selection', status: 'pending', queue: 'bulk', csrf };
      const count = await browser.post('/actions/expire', selection);
      expect(await count.text()).toContain('53 attempt(s) matching status = pending, queue = bulk');
      const expired = await browser.post('/actions/expire', { ...selection, confirmed: 'yes' });
      expect(expired.headers.get('location')).toBe(
        '/attempts?status=pending&queue=bulk&action=expire&done=53&skipped=0',
      );
      expect(await tasks.list({ queue: 'bulk', status: 'expired', limit: 100 })).toHaveLength(53);
      expect(await browser.text(expired.headers.get('location')!)).toContain(
        'Expired 53 attempt(s)',
      );
      // The selection is empty now: nothing to confirm, no button that would act on none.
      const none = await (await browser.post('/actions/expire', selection)).text();
      expect(none).toContain('No attempt matches status = pending, queue = bulk now.');
      expect(none).not.toContain('name="confirmed"');
      expect(none).toContain('href="/attempts?status=pending&amp;queue=bulk"');
      const wrongStatus = await browser.post('/actions/fail', {
        ...selection,
        status: 'failed',
        confirmed: 'yes',
      });
      expect(wrongStatus.status).toBe(400);

      const actionsLogged = logged.filter((entry) => entry.message?.startsWith('dashboard:'));
      expect(actionsLogged.map((entry) => entry.message)).toEqual([
        'dashboard: retried 1 attempt(s)',
        'dashboard: retried 0 attempt(s), skipped 1 no longer failed or expired',
        'dashboard: expired 53 attempt(s)',
      ]);
      expect(actionsLogged[0]!.object).toMatchObject({ action: 'retry', ids: [failed.id] });
    });

    it('a confirmed selection acts on the attempts its confirmation counted, not on those that arrived since', async () => {
      // The confirmation read the selection again: 300 attempts enqueued between the two clicks
      // were expired with the 53 the operator had been asked about.
      const { tasks, orders } = await seeded(harness());
      const handle = dashboard(tasks, { authorize: () => true });
      const browser = new DashboardClient(handle);
      const csrf = await browser.csrf('/attempts?status=pending&queue=bulk');
      const selection = { scope: 'selection', status: 'pending', queue: 'bulk', csrf };
      const page = await (await browser.post('/actions/expire', selection)).text();
      expect(page).toContain('53 attempt(s) matching status = pending, queue = bulk');
      const fields: Record<string, string> = {};
      for (const [, name, value] of page.matchAll(
        /<input type="hidden" name="([^"]+)" value="([^"]*)"/g,
      )) {
        fields[name!] = value!.replace(/&amp;/g, '&');
      }
      expect(fields['ids']!.split(',')).toHaveLength(53);
      const later = await harness().transaction((tx) =>
        tasks.enqueueMany(
          tx,
          Array.from({ length: 7 }, (_, n) => ({
            method: orders.fulfill,
            args: { n },
            options: { queue: 'bulk', scheduledAt: new Date(Date.now() + 3_600_000) },
          })),
        ),
      );
      const expired = await browser.post('/actions/expire', fields);
      expect(expired.headers.get('location')).toBe(
        '/attempts?status=pending&queue=bulk&action=expire&done=53&skipped=0',
      );
      const left = await tasks.list({ queue: 'bulk', status: 'pending', limit: 100 });
      expect(left.map((attempt) => attempt.id).sort()).toEqual(
        later.map((attempt) => attempt.id).sort(),
      );
      const forged = await browser.post('/actions/expire', { ...fields, ids: '1,x' });
      expect(forged.status).toBe(400);
    });

    it('cancels one attempt and a selection through the same confirm and CSRF path; a finished one is skipped', async () => {
      const { tasks, done, encrypted, logged } = await seeded(harness());
      const handle = dashboard(tasks, { authorize: () => true });
      const browser = new DashboardClient(handle);
      const csrf = await browser.csrf(`/attempts/${encrypted.id}`);
      expect(await browser.text(`/attempts/${encrypted.id}`)).toContain(
        'class="action action-cancel"',
      );
      expect(await browser.text(`/attempts/${done.id}`)).not.toContain('action-cancel');

      const noToken = await browser.post('/actions/cancel', { id: encrypted.id, confirmed: 'yes' });
      expect(noToken.status).toBe(403);
      const question = await browser.post('/actions/cancel', { id: encrypted.id, csrf });
      expect(question.status).toBe(200);
      expect(await question.text()).toContain('name="confirmed" value="yes"');
      expect((await tasks.get(encrypted.id))?.status).toBe('pending');
      const cancelled = await browser.post('/actions/cancel', {
        id: encrypted.id,
        csrf,
        confirmed: 'yes',
      });
      expect([cancelled.status, cancelled.headers.get('location')]).toEqual([
        303,
        `/attempts/${encrypted.id}`,
      ]);
      expect(await tasks.get(encrypted.id)).toMatchObject({
        status: 'expired',
        lastError: 'Cancelled',
      });
      const finished = await browser.post('/actions/cancel', {
        id: done.id,
        csrf,
        confirmed: 'yes',
      });
      expect(finished.status).toBe(303);
      expect((await tasks.get(done.id))?.status).toBe('succeeded');

      const selection = { scope: 'selection', status: 'pending', queue: 'bulk', csrf };
      const count = await browser.post('/actions/cancel', selection);
      expect(await count.text()).toContain('53 attempt(s) matching status = pending, queue = bulk');
      const all = await browser.post('/actions/cancel', { ...selection, confirmed: 'yes' });
      expect(all.headers.get('location')).toBe(
        '/attempts?status=pending&queue=bulk&action=cancel&done=53&skipped=0',
      );
      const expired = await tasks.list({ queue: 'bulk', status: 'expired', limit: 100 });
      expect(expired.map((attempt) => attempt.lastError)).toEqual(Array(53).fill('Cancelled'));
      const wrongStatus = await browser.post('/actions/cancel', {
        ...selection,
        status: 'succeeded',
        confirmed: 'yes',
      });
      expect(wrongStatus.status).toBe(400);

      expect(
        logged.filter((entry) => entry.message?.startsWith('dashboard:')).map((e) => e.message),
      ).toEqual([
        'dashboard: cancelled 1 attempt(s)',
        'dashboard: cancelled 0 attempt(s), skipped 1 no longer pending or running',
        'dashboard: cancelled 53 attempt(s)',
      ]);
    });

    it('filters match exactly: spaces around a token or method name are kept, for reads and actions', async () => {
      const spaced = defineTarget('Spaced', {
        send(_args: { n: number }) {},
        'send '(_args: { n: number }) {},
        ['😀'.repeat(255)](_args: { n: number }) {},
      });
      const tasks = await migratedTasks(harness(), { targets: [spaced] });
      const [plain, padded, trailing, emoji] = await harness().transaction(async (tx) => [
        await tasks.enqueue(tx, spaced.send, { n: 1 }, { idempotenceToken: 'tok' }),
        await tasks.enqueue(tx, spaced.send, { n: 2 }, { idempotenceToken: ' tok' }),
        await tasks.enqueue(tx, spaced['send '], { n: 3 }, { idempotenceToken: 'tok\t' }),
        await tasks.enqueue(tx, spaced['😀'.repeat(255)]!, { n: 4 }),
      ]);
      const browser = new DashboardClient(dashboard(tasks, { authorize: () => true }));
      const byFilter = async (filter: Record<string, string>) =>
        (
          await browser.json<Page>(`/api/attempts?${new URLSearchParams(filter).toString()}`)
        ).attempts.map((a) => a.id);
      expect(await byFilter({ token: 'tok' })).toEqual([plain.id]);
      expect(await byFilter({ token: ' tok' })).toEqual([padded.id]);
      expect(await byFilter({ token: 'tok\t' })).toEqual([trailing.id]);
      expect(await byFilter({ token: 'tok ' })).toEqual([]);
      expect(await byFilter({ target: 'Spaced', method: 'send ' })).toEqual([trailing.id]);
      expect(await byFilter({ target: 'Spaced', method: '😀'.repeat(255) })).toEqual([emoji.id]);

      // A trimmed filter cancelled the attempt holding 'tok' when ' tok' was asked for.
      const csrf = await browser.csrf(`/attempts/${padded.id}`);
      const cancelled = await browser.post('/actions/cancel', {
        scope: 'selection',
        status: 'pending',
        token: ' tok',
        csrf,
        confirmed: 'yes',
      });
      expect(cancelled.headers.get('location')).toBe(
        '/attempts?status=pending&token=+tok&action=cancel&done=1&skipped=0',
      );
      expect((await tasks.get(padded.id))?.status).toBe('expired');
      expect((await tasks.get(plain.id))?.status).toBe('pending');

      // Through the page's own forms, as a browser submits them: every line break of a form
      // value goes as CRLF. The filter travelled raw, and `a\nb` acted on `a\r\nb`.
      const [lf, crlf] = await harness().transaction(async (tx) => [
        await tasks.enqueue(tx, spaced.send, { n: 5 }, { idempotenceToken: 'a\nb' }),
        await tasks.enqueue(tx, spaced.send, { n: 6 }, { idempotenceToken: 'a\r\nb' }),
      ]);
      const submitted = async (path: string, button: string) => {
        const page = await browser.text(path);
        const form = /<form[^>]*>((?:(?!<\/form>)[\s\S])*)<\/form>/g;
        const forms = [...page.matchAll(form)].map((match) => match[1]!);
        const chosen = forms.find((body) => body.includes(button));
        expect(chosen, `a form with ${button} on ${path}`).toBeDefined();
        const fields: Record<string, string> = {};
        for (const [, name, value] of chosen!.matchAll(
          /<input type="hidden" name="([^"]+)" value="([^"]*)"/g,
        )) {
          const decoded = value!
            .replace(/&#10;/g, '\n')
            .replace(/&#13;/g, '\r')
            .replace(/&quot;/g, '"')
            .replace(/&#39;/g, "'")
            .replace(/&lt;/g, '<')
            .replace(/&gt;/g, '>')
            .replace(/&amp;/g, '&');
          fields[name!] = decoded.replace(/\r\n|\r|\n/g, '\r\n');
        }
        return fields;
      };
      const query = new URLSearchParams({ status: 'pending', token: 'a\nb' }).toString();
      const listed = `/attempts?${query}`;
      expect(
        (await browser.json<Page>(`/api/attempts?${query}`)).attempts.map((a) => a.id),
      ).toEqual([lf.id]);
      const asked = await browser.post('/actions/cancel', await submitted(listed, 'name="scope"'));
      const confirmPage = await asked.text();
      expect(confirmPage).toContain('1 attempt(s) matching');
      const fields: Record<string, string> = {};
      for (const [, name, value] of confirmPage.matchAll(
        /<input type="hidden" name="([^"]+)" value="([^"]*)"/g,
      )) {
        fields[name!] = value!.replace(/&amp;/g, '&').replace(/\r\n|\r|\n/g, '\r\n');
      }
      await browser.post('/actions/cancel', fields);
      expect((await tasks.get(lf.id))?.status).toBe('expired');
      expect((await tasks.get(crlf.id))?.status).toBe('pending');
    });

    it('read-only shows no action and refuses them; unauthenticated serves loopback only', async () => {
      const { tasks, failed } = await seeded(harness());
      expect(() => dashboard(tasks)).toThrow(ConfigError);
      expect(() => dashboard(tasks, { basePath: 'no-slash', authorize: () => true })).toThrow(
        ConfigError,
      );

      const readOnly = new DashboardClient(
        dashboard(tasks, { readOnly: true, allowUnauthenticated: true }),
      );
      for (const path of ['/', `/attempts/${failed.id}`, '/attempts?status=failed']) {
        const page = await readOnly.text(path);
        expect(page).not.toContain('method="post"');
        expect(page).not.toContain('<button type="submit" class="action');
      }
      const refused = await readOnly.post(
        '/actions/retry',
        { id: failed.id, confirmed: 'yes' },
        {
          origin,
          accept: 'application/json',
        },
      );
      expect(refused.status).toBe(403);
      expect(await refused.json()).toEqual({
        error: {
          code: 'FORBIDDEN',
          message: new DashboardForbiddenError('refused: this dashboard is read-only').message,
        },
      });
      expect((await tasks.get(failed.id))?.status).toBe('failed');

      const open = dashboard(tasks, { allowUnauthenticated: true });
      expect((await new DashboardClient(open, {}, '::ffff:127.0.0.1').get('/')).status).toBe(200);
      expect((await new DashboardClient(open, {}, '10.0.0.7').get('/')).status).toBe(401);
      const rebound = await open(new Request('http://attacker.example/'), {
        remoteAddress: '127.0.0.1',
      });
      expect(rebound.status).toBe(401);
      expect((await open(new Request(`${origin}/`))).status).toBe(401); // no address known
    });
  });
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
