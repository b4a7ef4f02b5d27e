// PostgreSQL: <table>_enqueue(target, method, args jsonb, options jsonb), created by migrate():
// enqueueing from SQL (triggers, psql, other languages) with enqueue()'s idempotence and wakeup.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { AsyncTask } from '../../src/index.js';
import { caught } from '../harness/caught.js';
import { noteTarget } from '../harness/note-target.js';
import { postgresHarness } from '../harness/postgres.js';

describe('PostgreSQL: SQL enqueue function', () => {
  let harness: Awaited<ReturnType<typeof postgresHarness>>;
  let tasks: AsyncTask<unknown>;
  let notes: ReturnType<typeof noteTarget>;
  let enqueueFn: string;

  beforeEach(async () => {
    harness = await postgresHarness();
    notes = noteTarget();
    tasks = new AsyncTask({
      driver: harness.driver,
      targets: [notes.target],
      table: harness.table,
    });
    await tasks.migrate();
    enqueueFn = `"${harness.schema}"."async_task_attempts_enqueue"`;
  });
  afterEach(async () => {
    await harness.close();
  });

  const enqueueSql = async (
    client: pg.Pool | pg.PoolClient,
    args: unknown,
    options: unknown = {},
  ) => {
    const { rows } = await client.query<{ id: string }>(
      `SELECT ${enqueueFn}('Notes', 'write', $1::jsonb, $2::jsonb) AS id`,
      [JSON.stringify(args), JSON.stringify(options)],
    );
    return rows[0]!.id;
  };

  it('writes the row enqueue() writes; runDue performs it', async () => {
    const scheduledAt = new Date(Date.now() - 1000);
    const id = await enqueueSql(
      harness.pool,
      { text: 'from SQL' },
      {
        queue: 'mail',
        priority: -3,
        maxAttempts: 4,
        scheduledAt: scheduledAt.toISOString(),
      },
    );

    expect(await tasks.get(id)).toMatchObject({
      id,
      status: 'pending',
      target: 'Notes',
      methodName: 'write',
      args: { text: 'from SQL' },
      encryptor: null,
      queue: 'mail',
      priority: -3,
      maxAttempts: 4,
      scheduledAt,
    });
    expect(await tasks.runDue()).toMatchObject({ succeeded: 1 });
    expect(notes.ran).toEqual(['from SQL']);
  });

  it('an idempotence token taken (by SQL or by enqueue()) returns that attempt and writes nothing', async () => {
    const first = await enqueueSql(harness.pool, { text: 'a' }, { idempotenceToken: 't-1' });
    const again = await enqueueSql(harness.pool, { text: 'b' }, { idempotenceToken: 't-1' });
    const fromLibrary = await tasks.enqueue(
      harness.pool,
      notes.target.write,
      { text: 'c' },
      {
        idempotenceToken: 't-1',
      },
    );
    const viaLibrary = await tasks.enqueue(
      harness.pool,
      notes.target.write,
      { text: 'd' },
      {
        idempotenceToken: 't-2',
      },
    );

    expect(again).toBe(first);
    expect(fromLibrary.id).toBe(first);
    expect(await enqueueSql(harness.pool, { text: 'e' }, { idempotenceToken: 't-2' })).toBe(
      viaLibrary.id,
    );
    expect(await harness.countAttempts()).toBe(2);
  });

  it('wakes listening workers: one notification with the queue', async () => {
    const channel = harness.driver.dialect.notifyChannel({
      schema: harness.schema,
      name: 'async_task_attempts',
    })!;
    const listener = await harness.pool.connect();
    try {
      const heard = new Promise<string | undefined>((resolve) => {
        listener.on('notification', (message) => resolve(message.payload));
      });
      await listener.query(`LISTEN ${channel}`);
      await enqueueSql(harness.pool, { text: 'wake' }, { queue: 'urgent' });
      expect(await heard).toBe('urgent');
    } finally {
      listener.release();
    }
  });

  it('from a trigger: the task exists if and only if the transaction commits', async () => {
    await harness.pool.query(`
      CREATE TABLE "${harness.schema}".orders (number int PRIMARY KEY);
      CREATE FUNCTION "${harness.schema}".order_placed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM ${enqueueFn}('Notes', 'write', jsonb_build_object('text', 'order ' || NEW.number),
          jsonb_build_object('idempotenceToken', 'order-' || NEW.number));
        RETURN NEW;
      END;
      $$;
      CREATE TRIGGER order_placed AFTER INSERT ON "${harness.schema}".orders
        FOR EACH ROW EXECUTE FUNCTION "${harness.schema}".order_placed();`);

    await harness.pool.query(`INSERT INTO "${harness.schema}".orders VALUES (7)`);
    const rolledBack = await caught(
      harness.transaction(async (client) => {
        await (client as pg.PoolClient).query(`INSERT INTO "${harness.schema}".orders VALUES (8)`);
        throw new Error('boom');
      }),
    );

    expect(rolledBack).toMatchObject({ message: 'boom' });
    expect(await tasks.runDue()).toMatchObject({ succeeded: 1 });
    expect(notes.ran).toEqual(['order 7']);
  });

  it('refuses bad options with a clear error, and writes nothing', async () => {
    const cases: [unknown, RegExp][] = [
      [{ queu: 'mail' }, /unknown option\(s\) queu; the options are queue/],
      [{ queue: 'no spaces' }, /queue no spaces is not valid/],
      [{ priority: 40000 }, /priority must be an integer from -32768 to 32767/],
      [{ maxAttempts: 0 }, /maxAttempts must be at least 1/],
      [[1], /options must be a JSON object/],
      // Cast before, or refused with PostgreSQL's own error; MySQL refuses each.
      [{ priority: '1' }, /priority must be an integer/],
      [{ priority: 1.5 }, /priority must be an integer/],
      [{ maxAttempts: '3' }, /maxAttempts must be at least 1/],
      [{ scheduledAt: 'tomorrow' }, /scheduledAt must be an ISO 8601 time/],
      [{ scheduledAt: '2030-02-30T00:00:00Z' }, /scheduledAt must be an ISO 8601 time/],
      [{ scheduledAt: 1767225600000 }, /scheduledAt must be an ISO 8601 time/],
      [{ scheduledAt: '2030-01-01T00:00:00+99:99' }, /scheduledAt must be an ISO 8601 time/],
    ];
    for (const [options, message] of cases) {
      expect(await caught(enqueueSql(harness.pool, { text: 'x' }, options))).toMatchObject({
        message: expect.stringMatching(message) as unknown,
      });
    }
    expect(await harness.countAttempts()).toBe(0);
    for (const [target, method] of [
      ['T'.repeat(201), 'write'],
      ['Notes', 'm'.repeat(256)],
    ]) {
      const error = await caught(
        harness.pool.query(`SELECT ${enqueueFn}($1, $2, '{}', '{}')`, [target, method]),
      );
      expect(error).toMatchObject({
        message: expect.stringMatching(/at most 200 characters/) as unknown,
      });
    }
    expect(await harness.countAttempts()).toBe(0);
  });

  // It was read in the session's TimeZone: a trigger in a session that is not UTC scheduled
  // hours off. MySQL's procedure and the README take it as UTC.
  it('takes integers written with a zero fraction (5.0, as numeric columns give them)', async () => {
    const id = await enqueueSql(harness.pool, { text: 'x' }, { priority: 5.0, maxAttempts: 2.0 });
    // JSON.stringify writes 5 for 5.0: send the text as a numeric column would.
    const { rows } = await harness.pool.query<{ id: string }>(
      `SELECT ${enqueueFn}('Notes', 'write', '{}', jsonb_build_object('priority', 5.0::numeric, 'maxAttempts', 2.0::numeric)) AS id`,
    );
    for (const attempt of [await tasks.get(id), await tasks.get(rows[0]!.id)]) {
      expect(attempt).toMatchObject({ priority: 5, maxAttempts: 2 });
    }
  });

  it('reads a scheduledAt without an offset as UTC, whatever the session time zone', async () => {
    const client = await harness.pool.connect();
    try {
      await client.query(`SET TIME ZONE 'Asia/Karachi'`);
      const ids = [];
      for (const scheduledAt of [
        '2030-01-01T00:00:00',
        '2030-01-01 00:00:00.250',
        '2030-01-01',
        '2030-01-01T05:00:00+05:00',
        '2030-01-01T00:00Z',
      ]) {
        ids.push(await enqueueSql(client, { text: scheduledAt }, { scheduledAt }));
      }
      const stored = await Promise.all(ids.map(async (id) => (await tasks.get(id))?.scheduledAt));
      expect(stored.map((date) => date?.toISOString())).toEqual([
        '2030-01-01T00:00:00.000Z',
        '2030-01-01T00:00:00.250Z',
        '2030-01-01T00:00:00.000Z',
        '2030-01-01T00:00:00.000Z',
        '2030-01-01T00:00:00.000Z',
      ]);
    } finally {
      client.release(true);
    }
  });
});
