// The CLI tests every database runs: each command against a real server (or file), through the
// real `async-task` process.
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliFixture } from './fixtures/targets.js';
import type { SpanRecord } from '../harness/otel.js';
import type { CliDatabase } from './databases.js';
import { fixtureTargets, lines, runCli, runCliJson, spawnCli, waitFor } from './run-cli.js';

interface JsonAttempt {
  id: string;
  status: string;
  target: string;
  methodName: string;
  args?: unknown;
  encryptor: string | null;
  queue: string;
  numAttempts: number;
  completedAt: string | null;
}

interface JsonStats {
  total: number;
  byStatus: Record<string, number>;
  byQueue: Record<string, Record<string, number>>;
}

/** One line on stderr, `async-task: …`, and no stack trace. */
function expectOneLineError(stderr: string, pattern: RegExp): void {
  const errorLines = lines(stderr);
  expect(errorLines).toHaveLength(1);
  expect(errorLines[0]).toMatch(/^async-task: /);
  expect(errorLines[0]).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at /);
}

export function cliSuite(setup: () => Promise<CliDatabase>): void {
  let db: CliDatabase;
  const cli = (...args: string[]) => runCli([...args, ...db.args]);
  const cliJson = <T>(...args: string[]) => runCliJson<T>([...args, ...db.args]);
  const enqueue = (
    n: number,
    queue: string,
    options: { encryptor?: 'aes'; idempotenceToken?: string } = {},
  ) =>
    db.tasks.enqueue(
      db.pool,
      CliFixture.record,
      { n, secret: `hunter${n}` },
      { queue, ...options },
    );

  beforeAll(async () => {
    db = await setup();
    await db.tasks.migrate();
  });
  afterAll(async () => {
    await db?.close();
  });

  describe('migrate', () => {
    it('creates a table, then says it is up to date (URL from DATABASE_URL, --json)', async () => {
      const table = db.tableNamed('other_attempts');
      const first = await runCli(['migrate', '--database-url', db.url, '--table', table]);
      expect(first.stderr).toBe('');
      expect(first.code).toBe(0);
      expect(first.stdout).toMatch(new RegExp(`^table ${table}: applied migrations? 1`));
      const again = await runCliJson<{ table: string; applied: number[] }>(
        ['migrate', '--table', table],
        { env: { DATABASE_URL: db.url } },
      );
      expect(again).toEqual({ table, applied: [] });
    });
  });

  describe('stats', () => {
    it('counts per status and per queue', async () => {
      const a = await enqueue(1, 'stats-a');
      await enqueue(2, 'stats-a');
      const b = await enqueue(3, 'stats-b');
      await enqueue(4, 'stats-b');
      await db.tasks.fail(a.id);
      await db.tasks.expire(b.id);
      const stats = await cliJson<JsonStats>('stats');
      expect(stats.byQueue['stats-a']).toEqual({
        pending: 1,
        running: 0,
        succeeded: 0,
        failed: 1,
        expired: 0,
        total: 2,
      });
      expect(stats.byQueue['stats-b']).toEqual({
        pending: 1,
        running: 0,
        succeeded: 0,
        failed: 0,
        expired: 1,
        total: 2,
      });
      expect(stats.total).toBe(
        Object.values(stats.byStatus).reduce((sum, count) => sum + count, 0),
      );
      expect(stats.byStatus['failed']).toBeGreaterThanOrEqual(1);

      const text = await cli('stats');
      expect(text.code).toBe(0);
      const table = lines(text.stdout);
      expect(table[0]).toMatch(
        /^QUEUE\s+PENDING\s+RUNNING\s+SUCCEEDED\s+FAILED\s+EXPIRED\s+TOTAL$/,
      );
      expect(table).toContainEqual(expect.stringMatching(/^stats-a\s+1\s+0\s+0\s+1\s+0\s+2$/));
    });
  });

  describe('workers', () => {
    it('lists a live worker, as a table and as JSON; a stopped one is gone', async () => {
      const worker = db.tasks.worker({
        id: 'cli-test-w1',
        concurrency: 3,
        queues: ['w-q'],
      });
      await worker.start();
      try {
        const listed = await cliJson<Record<string, unknown>[]>('workers');
        expect(listed.find((w) => w['id'] === worker.id)).toMatchObject({
          id: worker.id,
          pid: process.pid,
          queues: ['w-q'],
          concurrency: 3,
          running: 0,
        });
        const found = listed.find((w) => w['id'] === worker.id);
        expect(String(found?.['startedAt'])).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
        const text = await cli('workers');
        expect(text.code).toBe(0);
        const rows = lines(text.stdout);
        expect(rows[0]).toMatch(
          /^ID\s+HOST\s+PID\s+QUEUES\s+CONCURRENCY\s+RUNNING\s+STARTED\s+SEEN$/,
        );
        expect(rows).toContainEqual(
          expect.stringMatching(
            new RegExp(`^cli-test-w1\\s+\\S+\\s+${process.pid}\\s+w-q\\s+3\\s+0\\s`),
          ),
        );
      } finally {
        await worker.stop();
      }
      const after = await cliJson<{ id: string }[]>('workers');
      expect(after.map((w) => w.id)).not.toContain(worker.id);
    });
  });

  describe('list', () => {
    it('lists newest first, filters, and pages with --before', async () => {
      const first = await enqueue(1, 'list-q');
      const second = await enqueue(2, 'list-q');
      const third = await enqueue(3, 'list-q');
      await db.tasks.fail(second.id);

      const all = await cliJson<JsonAttempt[]>('list', '--queue', 'list-q');
      expect(all.map((a) => a.id)).toEqual([third.id, second.id, first.id]);
      expect(all[0]).toMatchObject({
        status: 'pending',
        target: 'CliFixture',
        methodName: 'record',
        args: { n: 3, secret: 'hunter3' },
        queue: 'list-q',
      });

      const page = await cli('list', '--queue', 'list-q', '--limit', '2');
      expect(page.code).toBe(0);
      const rows = lines(page.stdout);
      expect(rows[0]).toMatch(/^\s*ID\s+STATUS\s+TASK\s+QUEUE\s+TRIES\s+CREATED\s+LAST ERROR$/);
      expect(rows).toHaveLength(3);
      expect(rows[1]).toMatch(
        new RegExp(`^\\s*${third.id}\\s+pending\\s+CliFixture\\.record\\s+list-q\\s+0/25`),
      );
      expect(page.stderr).toBe(`more may follow: add --before ${second.id} for the next page\n`);

      const next = await cliJson<JsonAttempt[]>('list', '--queue', 'list-q', '--before', second.id);
      expect(next.map((a) => a.id)).toEqual([first.id]);

      const failed = await cliJson<JsonAttempt[]>(
        'list',
        '--queue',
        'list-q',
        '--status',
        'failed',
      );
      expect(failed.map((a) => a.id)).toEqual([second.id]);
      const byTarget = await cliJson<JsonAttempt[]>(
        'list',
        '--target',
        'CliFixture',
        '--method',
        'record',
        '--queue',
        'list-q',
        '--limit',
        '1',
      );
      expect(byTarget.map((a) => a.id)).toEqual([third.id]);
      const tokened = await enqueue(4, 'list-q', { idempotenceToken: ' list-token' });
      await enqueue(5, 'list-q', { idempotenceToken: 'list-token' });
      const byToken = await cliJson<JsonAttempt[]>('list', '--token', ' list-token');
      expect(byToken.map((a) => a.id)).toEqual([tokened.id]);

      const none = await cli('list', '--queue', 'no-such-queue');
      expect(none.stdout).toBe('no attempts match\n');
      const bad = await cli('list', '--status', 'done');
      expect(bad.code).toBe(2);
      expectOneLineError(bad.stderr, /--status/);
    });
  });

  describe('show', () => {
    it('shows a plain attempt with its arguments', async () => {
      const attempt = await enqueue(7, 'show-q');
      const text = await cli('show', attempt.id);
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(new RegExp(`^attempt ${attempt.id}\n`));
      expect(text.stdout).toMatch(/status\s+pending/);
      expect(text.stdout).toMatch(/task\s+CliFixture\.record/);
      expect(text.stdout).toContain('{"n":7,"secret":"hunter7"}');
      const json = await cliJson<JsonAttempt>('show', attempt.id);
      expect(json).toMatchObject({
        id: attempt.id,
        args: { n: 7, secret: 'hunter7' },
        encryptor: null,
      });
    });

    it("shows who holds a running attempt's lease and until when; '-' for a pending one", async () => {
      const attempt = await enqueue(9, 'show-lease');
      expect((await cli('show', attempt.id)).stdout).toMatch(/^ {2}lease +-$/m);
      const { runtime } = db.tasks;
      const claim = {
        lockedBy: 'cli-test-worker',
        limit: 1,
        leaseMs: 600_000,
        queues: ['show-lease'],
        horizon: null,
        durable: false,
      };
      const { records } = await runtime.driver.run((connection) =>
        runtime.executor(connection).attemptClaim(claim),
      );
      expect(records.map((record) => record.id)).toEqual([attempt.id]);
      try {
        const text = await cli('show', attempt.id);
        expect(text.stdout).toMatch(/status\s+running/);
        const until = records[0]!.lockedUntil!.toISOString();
        expect(text.stdout).toMatch(
          new RegExp(`^ {2}lease +held by cli-test-worker until ${until} \\(\\d+ s left\\)$`, 'm'),
        );
        expect(await cliJson<JsonAttempt>('show', attempt.id)).toMatchObject({
          status: 'running',
          lockedBy: 'cli-test-worker',
          lockedUntil: until,
        });
      } finally {
        await runtime.driver.run((connection) =>
          runtime.executor(connection).attemptReleaseMany('cli-test-worker', records),
        );
      }
    });

    it('never prints encrypted arguments, in text or JSON', async () => {
      const attempt = await enqueue(8, 'show-secret', { encryptor: 'aes' });
      const [text, json, list, listJson] = [
        await cli('show', attempt.id),
        await cli('show', attempt.id, '--json'),
        await cli('list', '--queue', 'show-secret'),
        await cli('list', '--queue', 'show-secret', '--json'),
      ];
      for (const result of [text, json, list, listJson]) {
        expect(result.code).toBe(0);
        expect(result.stdout).toContain(attempt.id);
        expect(result.stdout).not.toContain('hunter8');
      }
      expect(text.stdout).toContain("(encrypted with 'aes'; not shown)");
      const shown = JSON.parse(json.stdout) as JsonAttempt;
      expect(shown.encryptor).toBe('aes');
      expect('args' in shown).toBe(false);
    });

    // A stored message once printed raw: it could fake a "status succeeded" line, clear the
    // screen, colour the terminal or reverse the text that follows it.
    it('escapes control characters, newlines and bidi overrides of stored text; JSON keeps them exactly', async () => {
      const message =
        'boom\n  status             succeeded\r\x1b[2J\x1b[31mred\x07\x9b1m \u202eevil\u2066x\u2069 \u2028end\tok';
      const token = 'tok\x1b]0;owned\x07\n  status  succeeded';
      const attempt = await db.tasks.enqueue(
        db.pool,
        CliFixture.explode,
        { message },
        { queue: 'hostile-text', idempotenceToken: token },
      );
      await db.tasks.runDue({ queues: ['hostile-text'] });

      const shown = await cli('show', attempt.id);
      const listed = await cli('list', '--queue', 'hostile-text');
      for (const result of [shown, listed]) {
        expect(result.code).toBe(0);
        expect(result.stdout).not.toMatch(
          // eslint-disable-next-line no-control-regex -- none of these may reach the terminal
          /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/,
        );
        expect(result.stdout).toContain('\\x1b[2J');
        expect(result.stdout).not.toMatch(/^\s*status\s+succeeded/m);
      }
      // 13 fields and the heading, then the run history: its heading, the run, its error.
      expect(lines(shown.stdout)).toHaveLength(17);
      expect(shown.stdout).toContain('\\u202Eevil\\u2066x\\u2069 \\u2028end\\tok');
      expect(shown.stdout).toMatch(/^ {2}status\s+failed$/m);
      expect(shown.stdout).toContain(
        'PermanentError: boom⏎  status             succeeded\\r\\x1b[2J',
      );
      expect(shown.stdout).toContain('tok\\x1b]0;owned\\x07⏎  status  succeeded');
      expect(lines(listed.stdout)).toHaveLength(2);

      const json = await cliJson<JsonAttempt & { lastError: string; idempotenceToken: string }>(
        'show',
        attempt.id,
      );
      expect(json.lastError).toBe(`PermanentError: ${message}`);
      expect(json.idempotenceToken).toBe(token);
    });

    it('shows the runs that did not succeed, oldest first, in text and JSON', async () => {
      const attempt = await db.tasks.enqueue(
        db.pool,
        CliFixture.explode,
        { message: 'card declined' },
        { queue: 'show-runs' },
      );
      const before = await cli('show', attempt.id);
      expect(before.stdout).toMatch(/^ {2}runs \(not succeeded\): none$/m);
      await db.tasks.runDue({ queues: ['show-runs'] });

      const text = await cli('show', attempt.id);
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(
        /^ {4}#1 failed by \S+: \d{4}-\d\d-\d\dT[\d:.]+Z to \d{4}-\d\d-\d\dT[\d:.]+Z \(\d+ ms\)$/m,
      );
      expect(text.stdout).toMatch(/^ {6}PermanentError: card declined$/m);
      const json = await cliJson<JsonAttempt & { runs: Record<string, unknown>[] }>(
        'show',
        attempt.id,
      );
      expect(json.runs).toEqual([
        {
          n: 1,
          by: expect.any(String) as unknown,
          startedAt: expect.stringMatching(/Z$/) as unknown,
          endedAt: expect.stringMatching(/Z$/) as unknown,
          outcome: 'failed',
          error: 'PermanentError: card declined',
        },
      ]);
    });

    it('shows the progress a handler reported, escaped; JSON has it exactly', async () => {
      const message = 'resized 4 of 10\n  status  failed';
      const attempt = await db.tasks.enqueue(
        db.pool,
        CliFixture.report,
        { fraction: 0.4, message },
        { queue: 'show-progress' },
      );
      const before = await cli('show', attempt.id);
      expect(before.stdout).toMatch(/^ {2}progress\s+-$/m);
      await db.tasks.runDue({ queues: ['show-progress'] });

      const shown = await cli('show', attempt.id);
      expect(shown.code).toBe(0);
      expect(shown.stdout).toMatch(/^ {2}progress\s+40% resized 4 of 10⏎ {2}status {2}failed$/m);
      expect(shown.stdout).toMatch(/^ {2}status\s+succeeded$/m);
      const json = await cliJson<JsonAttempt & { progress: number; progressMessage: string }>(
        'show',
        attempt.id,
      );
      expect(json).toMatchObject({ progress: 0.4, progressMessage: message });
    });

    it('exits 1 for an unknown id and 2 for something that is not an id', async () => {
      const missing = await cli('show', '987654321');
      expect(missing.code).toBe(1);
      expectOneLineError(missing.stderr, /no attempt with id 987654321/);
      const bad = await cli('show', 'abc');
      expect(bad.code).toBe(2);
      expectOneLineError(bad.stderr, /attempt id/);
    });
  });

  describe('--table', () => {
    it('exits 2 for a table name this database cannot take, not 1', async () => {
      // The parser takes both; PostgreSQL refuses a name its index names would not fit, SQLite a
      // schema. MySQL takes both shapes, so it has nothing to refuse here.
      const refused = db.url.startsWith('postgres')
        ? ['--table', 't'.repeat(60)]
        : db.url.startsWith('sqlite')
          ? ['--table', 'some_schema.attempts']
          : undefined;
      if (refused === undefined) return;
      const result = await runCli(['stats', '--database-url', db.url, ...refused]);
      expect(result.code).toBe(2);
      expectOneLineError(result.stderr, /--table: table "/);
    });
  });

  describe('retry, expire, fail', () => {
    it('moves attempts between statuses, and refuses what the state machine does not allow', async () => {
      const a = await enqueue(1, 'transition-q');
      const b = await enqueue(2, 'transition-q');

      const expired = await cli('expire', a.id);
      expect(expired.code).toBe(0);
      expect(expired.stdout).toBe(`attempt ${a.id} (CliFixture.record) is expired\n`);
      expect((await db.tasks.get(a.id))?.status).toBe('expired');

      const again = await cli('expire', a.id);
      expect(again.code).toBe(1);
      expect(again.stdout).toBe('');
      expectOneLineError(
        again.stderr,
        new RegExp(
          `cannot expire attempt ${a.id}: it is expired, and only a pending attempt can be expired`,
        ),
      );

      const retried = await cliJson<JsonAttempt>('retry', a.id);
      expect(retried).toMatchObject({ id: a.id, status: 'pending', completedAt: null });

      const failed = await cliJson<JsonAttempt>('fail', b.id);
      expect(failed).toMatchObject({ id: b.id, status: 'failed' });
      expect(failed.completedAt).not.toBeNull();
      const retryText = await cli('retry', b.id);
      expect(retryText.code).toBe(0);
      expect(retryText.stdout).toMatch(
        new RegExp(`^attempt ${b.id} \\(CliFixture.record\\) is pending again`),
      );

      const notFailed = await cli('retry', b.id);
      expect(notFailed.code).toBe(1);
      expectOneLineError(notFailed.stderr, /cannot retry attempt \d+: it is pending/);
      const unknown = await cli('fail', '987654321');
      expect(unknown.code).toBe(1);
      expectOneLineError(unknown.stderr, /cannot fail attempt 987654321: no such attempt/);
      expect((await cli('fail', b.id)).code).toBe(0);
      const failedAgain = await cli('fail', b.id);
      expect(failedAgain.code).toBe(1);
      expectOneLineError(
        failedAgain.stderr,
        new RegExp(
          `cannot fail attempt ${b.id}: it is \\w+, and only a pending attempt can be failed$`,
        ),
      );
    });
  });

  describe('cancel', () => {
    it('expires a pending attempt; a finished or unknown one exits 1 with one line (JSON still printed)', async () => {
      const a = await enqueue(1, 'cancel-q');

      const cancelled = await cli('cancel', a.id);
      expect(cancelled.stderr).toBe('');
      expect(cancelled.code).toBe(0);
      expect(cancelled.stdout).toBe(
        `attempt ${a.id} (CliFixture.record) was pending and is now expired (Cancelled)\n`,
      );
      expect(await db.tasks.get(a.id)).toMatchObject({ status: 'expired', lastError: 'Cancelled' });

      const again = await cli('cancel', a.id, '--json');
      expect(again.code).toBe(1);
      expect(JSON.parse(again.stdout)).toMatchObject({
        outcome: 'finished',
        attempt: { id: a.id, status: 'expired' },
      });
      expectOneLineError(
        again.stderr,
        new RegExp(
          `cannot cancel attempt ${a.id} \\(CliFixture.record\\): it has already ended \\(expired\\)`,
        ),
      );

      const b = await enqueue(2, 'cancel-q');
      expect(await cliJson('cancel', b.id)).toMatchObject({
        outcome: 'cancelled',
        attempt: { id: b.id, status: 'expired' },
      });
      const unknown = await cli('cancel', '987654321');
      expect(unknown.code).toBe(1);
      expectOneLineError(unknown.stderr, /cannot cancel attempt 987654321: no such attempt/);
    });
  });

  describe('prune', () => {
    it('deletes finished attempts older than the duration, and only those', async () => {
      const old = await enqueue(1, 'prune-q');
      const recent = await enqueue(2, 'prune-q');
      const pending = await enqueue(3, 'prune-q');
      await db.tasks.fail(old.id);
      await db.tasks.fail(recent.id);
      await db.backdateCompleted(old.id, 2 * 3_600_000);

      const result = await cliJson<{ deleted: number; olderThan: string }>(
        'prune',
        '--older-than',
        '1h',
        '--batch-size',
        '1',
      );
      expect(result.deleted).toBe(1);
      expect(await db.tasks.get(old.id)).toBeNull();
      expect((await db.tasks.get(recent.id))?.status).toBe('failed');
      expect((await db.tasks.get(pending.id))?.status).toBe('pending');

      const text = await cli('prune', '--older-than', '1h30m');
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/^deleted 0 finished attempts completed more than 1h30m ago/);

      const missing = await cli('prune');
      expect(missing.code).toBe(2);
      expectOneLineError(missing.stderr, /--older-than/);
      const bad = await cli('prune', '--older-than', 'a week');
      expect(bad.code).toBe(2);
      expectOneLineError(bad.stderr, /duration/);
    });
  });

  describe('worker', () => {
    it('performs due tasks from a targets module, then stops on SIGTERM and exits 0', async () => {
      const plain = await Promise.all([1, 2, 3].map((n) => enqueue(n, 'worker-q')));
      const secret = await enqueue(4, 'worker-q', { encryptor: 'aes' });
      const refused = await db.tasks.enqueue(
        db.pool,
        CliFixture.refuse,
        { n: 5 },
        {
          queue: 'worker-q',
        },
      );
      const other = await enqueue(6, 'not-this-queue');

      const child = spawnCli([
        'worker',
        ...db.args,
        '--targets',
        fixtureTargets,
        '--queues',
        'worker-q',
        '--concurrency',
        '2',
        '--poll-interval',
        '50',
      ]);
      let stdout = '';
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const output = createInterface({ input: child.stdout! });
      output.on('line', (line) => (stdout += `${line}\n`));
      const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
      try {
        // The last line of the start-up block: the whole block has been read.
        await waitFor(
          'the worker to start',
          () => /stop with Ctrl-C or SIGTERM/.test(stdout) || child.exitCode !== null,
        );
        expect(stderr).toBe('');
        expect(stdout).toMatch(/targets\s+CliFixture \(record, hang, refuse, report, explode\)/);
        await waitFor('the attempts to finish', async () => {
          const statuses = await Promise.all(
            [...plain, secret, refused].map(async (a) => (await db.tasks.get(a.id))?.status),
          );
          return statuses.every((status) => status === 'succeeded' || status === 'failed');
        });
      } finally {
        child.kill('SIGTERM');
      }
      const [code, signal] = await exited;
      expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
      for (const attempt of [...plain, secret]) {
        expect((await db.tasks.get(attempt.id))?.status).toBe('succeeded');
      }
      expect((await db.tasks.get(refused.id))?.lastError).toBe(
        'PermanentError: refusing 5 on purpose',
      );
      expect((await db.tasks.get(other.id))?.status).toBe('pending');
      expect(stdout).toMatch(
        new RegExp(
          `attempt ${refused.id} \\(CliFixture.refuse\\) failed for good after 1 run\\(s\\): PermanentError: refusing 5 on purpose`,
        ),
      );
      expect(stdout).toMatch(/SIGTERM: stopping/);
      expect(stdout).toMatch(/stopped after .*: 4 succeeded, 0 retried, 1 failed, 0 rescued\n$/);
      expect(stdout).not.toContain('hunter4');
    });

    it('exits after --shutdown-timeout even when a handler ignores its signal, its attempt handed back', async () => {
      const hung = await db.tasks.enqueue(db.pool, CliFixture.hang, { n: 1 }, { queue: 'hang-q' });
      const child = spawnCli([
        'worker',
        ...db.args,
        '--targets',
        fixtureTargets,
        '--queues',
        'hang-q',
        '--poll-interval',
        '50',
        '--shutdown-timeout',
        '300',
      ]);
      let stdout = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
      try {
        await waitFor(
          'the hanging attempt to run',
          async () => (await db.tasks.get(hung.id))?.status === 'running',
        );
      } finally {
        child.kill('SIGTERM');
      }
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const [code, signal] = await exited;
      clearTimeout(killer);
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      expect(stdout).toMatch(/1 task\(s\) did not finish within --shutdown-timeout/);
      expect(await db.tasks.get(hung.id)).toMatchObject({ status: 'pending', numAttempts: 0 });
    });

    it("keeps the flow control of the module's `queues` export", async () => {
      const queued = await Promise.all([1, 2, 3].map((n) => enqueue(n, 'limited-q')));
      const child = spawnCli([
        'worker',
        ...db.args,
        '--targets',
        'test/cli/fixtures/limits.ts',
        '--queues',
        'limited-q',
        '--poll-interval',
        '50',
      ]);
      let stdout = '';
      let stderr = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
      const statuses = async () =>
        Promise.all(queued.map(async (a) => (await db.tasks.get(a.id))?.status));
      try {
        await waitFor(
          'one attempt of the rate-limited queue to succeed',
          async () => (await statuses()).includes('succeeded') || child.exitCode !== null,
        );
        // Twenty poll intervals: a worker without the limit claims the other two in the first.
        await new Promise((resolve) => setTimeout(resolve, 1000));
        expect((await statuses()).sort()).toEqual(['pending', 'pending', 'succeeded']);
      } finally {
        child.kill('SIGTERM');
      }
      const [code, signal] = await exited;
      expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
      expect(stdout).toMatch(
        /^ {2}limits {7}limited-q \(rate 1 per 600000 ms\), keyed-q \(keyConcurrency 2, fair by key\)$/m,
      );
    });

    it("prunes by the module's `retention` export, not the defaults", async () => {
      const done = await enqueue(1, 'retention-q');
      const failed = await enqueue(2, 'retention-q');
      await db.tasks.fail(failed.id);
      expect(await db.tasks.runDue({ queues: ['retention-q'] })).toMatchObject({ succeeded: 1 });
      // Older than the module's hour, younger than the default day; older than the default 14 days.
      await db.backdateCompleted(done.id, 2 * 3_600_000);
      await db.backdateCompleted(failed.id, 20 * 86_400_000);
      const child = spawnCli([
        'worker',
        ...db.args,
        '--targets',
        'test/cli/fixtures/retention.ts',
        '--queues',
        'nothing-q',
      ]);
      let stdout = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      const exited = once(child, 'close');
      try {
        // The first pruning round comes 2-4 s after the start, which is itself 5-10 s on a
        // loaded 2-core machine (a suite run beside other work took over 20 s in all, twice).
        await waitFor(
          'the old success to be pruned',
          async () => (await db.tasks.get(done.id)) === null || child.exitCode !== null,
          45_000,
        );
      } finally {
        child.kill('SIGTERM');
        await exited;
      }
      expect(await db.tasks.get(done.id)).toBeNull();
      expect((await db.tasks.get(failed.id))?.status).toBe('failed');
      expect(stdout).toMatch(/^ {2}retention {4}succeeded 1 h, failed kept, expired 14 d$/m);
      expect(stdout).toMatch(/^ {2}encryptors {3}aes$/m);
    });

    it("stores the errors of encrypted tasks as the module's `encryptedTaskErrors` says", async () => {
      const refused = await db.tasks.enqueue(
        db.pool,
        CliFixture.refuse,
        { n: 7 },
        { queue: 'class-q', encryptor: 'aes' },
      );
      const child = spawnCli([
        'worker',
        ...db.args,
        '--targets',
        'test/cli/fixtures/class-errors.ts',
        '--queues',
        'class-q',
        '--poll-interval',
        '50',
      ]);
      const exited = once(child, 'close');
      try {
        await waitFor(
          'the encrypted task to fail',
          async () =>
            (await db.tasks.get(refused.id))?.status === 'failed' || child.exitCode !== null,
        );
      } finally {
        child.kill('SIGTERM');
        await exited;
      }
      // The default ('encrypt') would store the message encrypted.
      expect((await db.tasks.get(refused.id))?.lastError).toBe(
        'PermanentError: [message withheld]',
      );
    });

    it("traces with the module's `telemetry` export", async () => {
      const task = await enqueue(9, 'traced-q');
      const spans = join(mkdtempSync(join(tmpdir(), 'async-task-spans-')), 'spans.jsonl');
      const child = spawnCli(
        [
          'worker',
          ...db.args,
          '--targets',
          'test/cli/fixtures/telemetry.ts',
          '--queues',
          'traced-q',
          '--poll-interval',
          '50',
        ],
        { env: { ASYNC_TASK_TEST_SPANS: spans } },
      );
      const exited = once(child, 'close');
      const recorded = (): SpanRecord[] =>
        existsSync(spans)
          ? lines(readFileSync(spans, 'utf8')).map((line) => JSON.parse(line) as SpanRecord)
          : [];
      try {
        await waitFor(
          'the run to be traced',
          () =>
            recorded().some((span) => span.name === 'process traced-q') || child.exitCode !== null,
        );
      } finally {
        child.kill('SIGTERM');
        await exited;
      }
      expect((await db.tasks.get(task.id))?.status).toBe('succeeded');
      expect(recorded().find((span) => span.name === 'process traced-q')?.attributes).toMatchObject(
        {
          'messaging.message.id': String(task.id),
          'async_task.target': 'CliFixture',
          'async_task.method': 'record',
          'async_task.outcome': 'succeeded',
        },
      );
      // Never the arguments: the task's secret is in no span.
      expect(readFileSync(spans, 'utf8')).not.toContain('hunter9');
    });

    it('exits 1 with one line when the targets module exports no targets', async () => {
      const result = await cli('worker', '--targets', 'test/cli/run-cli.ts');
      expect(result.code).toBe(1);
      expectOneLineError(result.stderr, /exports no targets/);
      const missing = await cli('worker', '--targets', 'test/cli/fixtures/nope.js');
      expect(missing.code).toBe(1);
      expectOneLineError(missing.stderr, /does not exist/);
      const usage = await cli('worker');
      expect(usage.code).toBe(2);
      expectOneLineError(usage.stderr, /--targets/);
    });
  });
}
