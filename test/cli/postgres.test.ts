import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresCliDatabase, type CliDatabase } from './databases.js';
import { CliFixture } from './fixtures/targets.js';
import { fixtureTargets, spawnCli, waitFor } from './run-cli.js';
import { cliSuite } from './suite.js';

describe('async-task CLI on PostgreSQL (an isolated schema, --table schema.async_task_attempts)', () => {
  cliSuite(postgresCliDatabase);
});

describe('async-task worker --json on PostgreSQL', () => {
  let db: CliDatabase;
  beforeAll(async () => {
    db = await postgresCliDatabase();
    await db.tasks.migrate();
  });
  afterAll(async () => {
    await db?.close();
  });

  it('writes one JSON object per line, and stops on SIGINT with exit code 0', async () => {
    const child = spawnCli(['worker', ...db.args, '--targets', fixtureTargets, '--json']);
    const events: Record<string, unknown>[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) => {
      events.push(JSON.parse(line) as Record<string, unknown>);
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
    let refusedId: string | undefined;
    try {
      await waitFor('the worker to start', () => events.length > 0 || child.exitCode !== null);
      expect(events[0]).toMatchObject({
        event: 'started',
        concurrency: 10,
        queues: null,
        limits: {},
        retention: { succeededMs: 86_400_000, failedMs: 1_209_600_000, expiredMs: 1_209_600_000 },
        encryptors: ['aes'],
      });
      // Enqueued after start: LISTEN/NOTIFY wakes the worker.
      const refused = await db.tasks.enqueue(db.pool, CliFixture.refuse, { n: 9 });
      refusedId = refused.id;
      await waitFor('the failed event', () => events.some((e) => e['event'] === 'failed'));
    } finally {
      child.kill('SIGINT');
    }
    const [code] = await exited;
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(events.map((e) => e['event'])).toEqual(['started', 'failed', 'stopping', 'stopped']);
    expect(events[1]).toMatchObject({
      id: refusedId,
      target: 'CliFixture',
      method: 'refuse',
      numAttempts: 1,
      error: 'PermanentError: refusing 9 on purpose',
    });
    expect(events[2]).toMatchObject({ signal: 'SIGINT' });
    expect(events[3]).toMatchObject({ succeeded: 0, retried: 0, failed: 1, rescued: 0 });
  });
});
