// The dashboard in a real browser (Debian's chromium, driven by playwright-core): the CLI's
// one-time login, filters, an attempt, a retry, an encrypted task, CSRF, progress, read-only and
// 401.
// Screenshots land in test-artifacts/dashboard/ (git-ignored) for a person to look at.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  aesGcmEncryptor,
  defineTarget,
  type Attempt,
  type TaskContext,
  type Worker,
} from '../../src/index.js';
import { dashboard, nodeListener } from '../../src/dashboard/index.js';
import { dashboardLoginUrl, repositoryRoot, spawnCli } from '../cli/run-cli.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { sqliteHarness } from '../harness/sqlite.js';

const chromiumPath = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const artifacts = join(repositoryRoot, 'test-artifacts', 'dashboard');
const secret = 'iban DE89 3704 0044 0532 0130 00';

// CI installs chromium (.ci/run); elsewhere a machine without it skips, saying so.
const haveChromium = existsSync(chromiumPath) || process.env['CI'] === 'true';

describe.skipIf(!haveChromium)(`dashboard in chromium (${chromiumPath})`, () => {
  let harness: Awaited<ReturnType<typeof sqliteHarness>>;
  let browser: Browser;
  let cli: ChildProcess;
  let loginUrl: string;
  let readOnlyServer: Server;
  let readOnlyUrl: string;
  let seeded: { failed: Attempt; encrypted: Attempt };
  let newWorker: () => Worker;

  beforeAll(async () => {
    mkdirSync(artifacts, { recursive: true });
    harness = await sqliteHarness();
    const database = harness.pool;
    const mail = defineTarget('Mailer', {
      send(_args: { to: string }) {
        throw new Error('SMTP 554: <relay denied> for example.com');
      },
    });
    const orders = defineTarget('Orders', { fulfill(_args: { n: number }) {} });
    const payments = defineTarget('Payments', { refund(_args: { iban: string }) {} });
    const images = defineTarget('Images', {
      resize(args: { done: number }, ctx: TaskContext) {
        ctx.progress(args.done / 10, `resized ${args.done} of 10 <thumbnails>`);
      },
    });
    const tasks = await migratedTasks(harness, {
      targets: [mail, orders, payments, images],
      encryptors: {
        aes: aesGcmEncryptor({ keys: { k1: randomBytes(32).toString('base64') }, current: 'k1' }),
      },
    });
    const later = new Date(Date.now() + 3_600_000);
    const failed = await tasks.enqueue(
      database,
      mail.send,
      { to: 'ops@example.com' },
      { maxAttempts: 1 },
    );
    for (let n = 0; n < 12; n++) {
      await tasks.enqueue(
        database,
        orders.fulfill,
        { n },
        { queue: n % 3 === 0 ? 'reports' : 'default' },
      );
    }
    const encrypted = await tasks.enqueue(
      database,
      payments.refund,
      { iban: secret },
      {
        encryptor: 'aes',
        scheduledAt: later,
        idempotenceToken: 'refund-77',
      },
    );
    await tasks.enqueue(database, images.resize, { done: 4 }, { queue: 'images' });
    await tasks.runDue();
    seeded = { failed, encrypted };
    newWorker = () =>
      tasks.worker({
        id: 'web-1:4242:3f9a1c2e',
        concurrency: 8,
        queues: ['default', 'reports'],
        pollIntervalMs: 60_000,
      });

    // The read-only dashboard, in this process: loopback only, no login.
    readOnlyServer = createServer(
      nodeListener(
        dashboard(tasks, { readOnly: true, allowUnauthenticated: true, basePath: '/ops/tasks' }),
      ),
    );
    readOnlyServer.listen(0, '127.0.0.1');
    await once(readOnlyServer, 'listening');
    const address = readOnlyServer.address();
    readOnlyUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/ops/tasks/`;

    // The CLI's dashboard, with its one-time login URL.
    cli = spawnCli([
      'dashboard',
      '--port',
      '0',
      '--database-url',
      `sqlite:${harness.file}`,
      '--table',
      harness.table,
    ]);
    loginUrl = await dashboardLoginUrl(cli);

    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    cli?.kill('SIGTERM');
    if (cli && cli.exitCode === null) await once(cli, 'exit');
    readOnlyServer?.close();
    await harness?.close();
  });

  const shot = (page: Page, name: string) =>
    page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });

  it('logs in, filters, opens an attempt, retries it, and never shows encrypted arguments', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const blocked: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) blocked.push(message.text());
    });
    // Every request a logged-in page makes (its icon included) is answered.
    const refused: string[] = [];
    page.on('response', (response) => {
      const { pathname } = new URL(response.url());
      if (response.status() >= 400 && pathname !== '/')
        refused.push(`${response.status()} ${pathname}`);
    });

    const origin = new URL(loginUrl).origin;
    expect((await page.goto(`${origin}/`))?.status()).toBe(401);
    await shot(page, '0-unauthorized');

    await page.goto(loginUrl);
    expect(new URL(page.url()).pathname).toBe('/');
    await expect.poll(() => page.locator('.chart canvas').count()).toBe(2);
    await page.waitForLoadState('load');
    expect(refused).toEqual([]);
    // Its icon too (a browser asks for /favicon.ico, a 404, when a page names none).
    const href = await page.locator('link[rel="icon"]').getAttribute('href');
    const icon = await page.evaluate(async (path) => {
      if (path === null) return 'no icon link';
      const response = await fetch(path);
      return `${response.status} ${response.headers.get('content-type')}`;
    }, href);
    expect(icon).toBe('200 image/svg+xml');
    expect(await page.locator('table.counts').innerText()).toMatch(/reports/);
    await shot(page, '1-queues');

    const reused = await browser.newContext();
    expect((await (await reused.newPage()).goto(loginUrl))?.status()).toBe(401); // spent
    await reused.close();

    await page.click('nav a[href="/attempts"]');
    await page.selectOption('select[name="status"]', 'failed');
    await page.click('form.filters button[type="submit"]');
    expect(page.url()).toContain('status=failed');
    const rows = page.locator('table.attempts tbody tr');
    expect(await rows.count()).toBe(1);
    await shot(page, '2-attempts-failed');

    await rows.first().locator('a').click();
    expect(await page.locator('pre.error').first().innerText()).toBe(
      'Error: SMTP 554: <relay denied> for example.com',
    );
    // The timeline: enqueued, the one run with its worker, times and error, then the outcome.
    const run = page.locator('ol.timeline li.run');
    expect(await run.count()).toBe(1);
    expect(await run.locator('.run-title').innerText()).toBe('run 1: failed');
    expect(await run.locator('pre.run-error').innerText()).toBe(
      'Error: SMTP 554: <relay denied> for example.com',
    );
    expect(await run.locator('.run-fields').innerText()).toMatch(/worker\s+\S+/);
    expect(await page.locator('ol.timeline').innerText()).toMatch(
      /enqueued[\s\S]*run 1: failed[\s\S]*failed after 1 run\(s\)/,
    );
    await shot(page, '3-attempt-failed');

    await page.click('button.action-retry');
    await shot(page, '4-confirm-retry');
    expect(await page.locator('.confirm-question').innerText()).toContain(
      `attempt ${seeded.failed.id}`,
    );
    await page.click('form.confirm button[type="submit"]');
    expect(new URL(page.url()).pathname).toBe(`/attempts/${seeded.failed.id}`);
    expect(await page.locator('h1 .status').innerText()).toBe('pending');
    await shot(page, '5-attempt-retried');

    await page.goto(`${origin}/attempts?token=refund-77`);
    await page.locator('table.attempts tbody a').first().click();
    const text = await page.content();
    expect(text).not.toContain(secret);
    expect(text).not.toContain('DE89');
    expect(await page.locator('.encrypted').innerText()).toContain(
      'never shows encrypted arguments',
    );
    await shot(page, '6-attempt-encrypted');

    // The page's own origin and cookies, but no CSRF token: refused.
    const status = await page.evaluate(async (id) => {
      const response = await fetch('/actions/expire', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `id=${id}&confirmed=yes`,
      });
      return response.status;
    }, seeded.encrypted.id);
    expect(status).toBe(403);

    await page.goto(`${origin}/attempts?queue=images`);
    const cell = page.locator('table.attempts tbody td.progress-cell');
    expect(await cell.innerText()).toMatch(/^40%\s+resized 4 of 10 <thumbnails>$/);
    expect(await cell.locator('progress').getAttribute('value')).toBe('0.4');
    await shot(page, '6b-attempts-progress');
    await page.locator('table.attempts tbody a').first().click();
    expect(await page.locator('dd .progress').innerText()).toMatch(
      /^40%\s+resized 4 of 10 <thumbnails>$/,
    );
    await shot(page, '6c-attempt-progress');

    expect(blocked).toEqual([]);
    await context.close();
  });

  it('the Workers page lists a live worker; the queues page shows it in short', async () => {
    const worker = newWorker();
    await worker.start();
    try {
      const context = await browser.newContext({ viewport: { width: 1280, height: 700 } });
      const page = await context.newPage();
      await page.goto(readOnlyUrl);
      expect(await page.locator('main').innerText()).toContain('web-1:4242:3f9a1c2e');
      await page.click('nav a[href="/ops/tasks/workers"]');
      const cells = await page.locator('table tbody tr').first().locator('td').allInnerTexts();
      expect(cells.slice(0, 6)).toEqual([
        'web-1:4242:3f9a1c2e',
        hostname(),
        String(process.pid),
        'default, reports',
        '8',
        '0',
      ]);
      await shot(page, '9-workers');
      await context.close();
    } finally {
      await worker.stop();
    }
  });

  it('schedules and limits: next ticks, the last tick enqueued, and each limited queue', async () => {
    const reports = defineTarget('Reports', { nightly(_args: { kind: string }) {} });
    const digest = defineTarget('Digest', { send(_args: { to: string }) {} });
    const tasks = await migratedTasks(harness, {
      targets: [reports, digest],
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
          name: 'hourly-digest',
          cron: '0 * * * *',
          timezone: 'America/New_York',
          method: digest.send,
          args: { to: 'team@example.com' },
          options: { queue: 'digests' },
          catchUp: 0,
        },
      ],
      queues: {
        digests: {
          concurrency: 4,
          keyConcurrency: 2,
          fairness: 'key',
          rateLimit: { limit: 100, periodMs: 60_000, perKey: true },
        },
        reports: { concurrency: 1, rateLimit: { limit: 10, periodMs: 3_600_000 } },
      },
    });
    for (const to of ['a@example.com', 'a@example.com', 'b@example.com']) {
      await tasks.enqueue(
        harness.pool,
        digest.send,
        { to },
        { queue: 'digests', concurrencyKey: to },
      );
    }
    await tasks.runDue({ queues: ['reports', 'digests'] });
    const server = createServer(nodeListener(dashboard(tasks, { allowUnauthenticated: true })));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const page = await context.newPage();
      await page.goto(`${url}/`);
      await page.click('nav a[href="/schedules"]');
      expect(await page.locator('h1').innerText()).toBe('Schedules and limits');
      const schedules = page.locator('table.schedules tbody tr');
      expect(await schedules.count()).toBe(2);
      expect(await schedules.first().innerText()).toMatch(/nightly-report[\s\S]*03:00:00/);
      expect(await schedules.nth(1).innerText()).toContain('none in the table');
      const limits = page.locator('table.limits tbody tr');
      expect(await limits.count()).toBe(2);
      expect(await limits.first().innerText()).toMatch(
        /^digests\s+0 \/ 4\s+2\s+100 per 1 min, per key/,
      );
      await shot(page, '9-schedules-and-limits');
      await schedules.first().locator('a').click();
      expect(await page.locator('h1 .status').innerText()).toBe('succeeded');
    } finally {
      await context.close();
      server.close();
    }
  });

  it('read-only: no buttons, and actions refused', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(readOnlyUrl);
    await expect.poll(() => page.locator('.chart canvas').count()).toBe(2);
    await shot(page, '7-read-only-queues');
    await page.goto(`${readOnlyUrl}attempts/${seeded.encrypted.id}`);
    expect(await page.locator('button').count()).toBe(0);
    await page.goto(`${readOnlyUrl}attempts?status=pending`);
    expect(await page.locator('form[method="post"]').count()).toBe(0);
    expect(await page.locator('.read-only').innerText()).toBe('read-only');
    await shot(page, '8-read-only-attempts');
    const status = await page.evaluate(async () => {
      const response = await fetch('actions/expire', {
        method: 'POST',
        body: new URLSearchParams({ id: '1' }),
      });
      return response.status;
    });
    expect(status).toBe(403);
    await context.close();
  });
});
