// MySQL / MariaDB: the procedure <table>_enqueue(target, method, args, options, OUT id), created by
// migrate(): enqueueing from SQL (triggers, the mysql client, other languages) with enqueue()'s
// idempotence, as postgres-sql-enqueue.test.ts checks for PostgreSQL's function. MySQL cannot
// notify another connection, so there is no wakeup to check: workers poll.
import mysql from 'mysql2/promise';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AsyncTask } from '../../src/index.js';
import { enqueueProcedure } from '../../src/dialects/mysql/bound-statements.js';
import { mysql2Driver } from '../../src/drivers/mysql2.js';
import { caught } from '../harness/caught.js';
import { mysqlHarness, mysqlUrlFor } from '../harness/mysql.js';
import { noteTarget } from '../harness/note-target.js';
import { waitFor } from '../harness/wait-for.js';

type MysqlHarness = Awaited<ReturnType<typeof mysqlHarness>>;

describe('MySQL: SQL enqueue procedure', () => {
  let harness: MysqlHarness;
  let tasks: AsyncTask<unknown>;
  let notes: ReturnType<typeof noteTarget>;
  let enqueueProc: string;

  beforeEach(async () => {
    harness = await mysqlHarness();
    notes = noteTarget();
    tasks = new AsyncTask({
      driver: harness.driver,
      targets: [notes.target],
      table: harness.table,
    });
    await tasks.migrate();
    enqueueProc = `\`${harness.database}\`.\`async_task_attempts_enqueue\``;
  });
  afterEach(async () => {
    await harness.close();
  });

  /** CALLs the procedure on `connection` (options as JSON text, or null); the attempt's id. */
  const callOn = async (
    connection: mysql.PoolConnection,
    args: unknown,
    options: string | null,
    procedure = enqueueProc,
  ): Promise<string> => {
    await connection.query(`CALL ${procedure}('Notes', 'write', ?, ?, @attempt_id)`, [
      args === undefined ? null : JSON.stringify(args),
      options,
    ]);
    const [rows] = await connection.query<mysql.RowDataPacket[]>(
      'SELECT CAST(@attempt_id AS CHAR) AS id',
    );
    return String(rows[0]!['id']);
  };

  const enqueueSql = async (args: unknown, options: unknown = {}, procedure = enqueueProc) => {
    const connection = await harness.pool.getConnection();
    try {
      return await callOn(
        connection,
        args,
        options === null ? null : JSON.stringify(options),
        procedure,
      );
    } finally {
      connection.release();
    }
  };

  /** The columns enqueue() sets that get() does not show. */
  const hiddenColumns = async (id: string) => {
    const [rows] = await harness.pool.query<mysql.RowDataPacket[]>(
      `SELECT locked_by, locked_until, encryptor, trace_context, concurrency_key, num_attempts,
         completed_at, cancel_requested_at, runs
       FROM \`${harness.database}\`.async_task_attempts WHERE id = ?`,
      [id],
    );
    return rows[0];
  };

  it('writes the row enqueue() writes; runDue performs it', async () => {
    const scheduledAt = new Date(Date.now() - 1000);
    const options = { queue: 'mail', priority: -3, maxAttempts: 4, scheduledAt };
    const id = await enqueueSql(
      { text: 'from SQL' },
      { ...options, scheduledAt: scheduledAt.toISOString() },
    );
    const viaLibrary = await tasks.enqueue(
      harness.pool,
      notes.target.write,
      { text: 'from SQL' },
      options,
    );

    const attempt = await tasks.get(id);
    expect(attempt).toMatchObject({
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
    const { id: _sqlId, createdAt: _c1, updatedAt: _u1, ...fromSql } = attempt!;
    const { id: _libId, createdAt: _c2, updatedAt: _u2, ...fromLibrary } = viaLibrary;
    expect(fromSql).toEqual(fromLibrary);
    expect(await hiddenColumns(id)).toEqual(await hiddenColumns(viaLibrary.id));
    expect(await tasks.runDue()).toMatchObject({ succeeded: 2 });
    expect(notes.ran).toEqual(['from SQL', 'from SQL']);
  });

  it('defaults: queue default, priority 0, 25 attempts, due now; NULL options and args', async () => {
    const before = Date.now();
    const id = await enqueueSql(undefined, null);
    expect(await tasks.get(id)).toMatchObject({
      args: undefined,
      queue: 'default',
      priority: 0,
      maxAttempts: 25,
      idempotenceToken: null,
    });
    const { scheduledAt } = (await tasks.get(id))!;
    expect(scheduledAt.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(scheduledAt.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
  });

  it('scheduledAt: ISO 8601 with an offset, Z, or none (UTC), whatever the session time_zone', async () => {
    const connection = await harness.pool.getConnection();
    try {
      await connection.query("SET time_zone = '+05:00'");
      const cases: [string, string][] = [
        ['2030-01-02T03:04:05.678+02:00', '2030-01-02T01:04:05.678Z'],
        ['2030-01-02T03:04:05-0530', '2030-01-02T08:34:05.000Z'],
        ['2030-01-02T03:04+01', '2030-01-02T02:04:00.000Z'],
        ['2030-01-02t03:04:05.1234567z', '2030-01-02T03:04:05.123Z'],
        ['2030-01-02 03:04:05', '2030-01-02T03:04:05.000Z'],
        ['2030-01-02', '2030-01-02T00:00:00.000Z'],
        ['2040-02-29T23:59:59.999Z', '2040-02-29T23:59:59.999Z'],
      ];
      for (const [given, stored] of cases) {
        const id = await callOn(
          connection,
          { text: given },
          JSON.stringify({ scheduledAt: given }),
        );
        expect((await tasks.get(id))!.scheduledAt.toISOString(), given).toBe(stored);
      }
    } finally {
      connection.release();
    }
  });

  it('an idempotence token taken (by SQL or by enqueue()) returns that attempt and writes nothing', async () => {
    const first = await enqueueSql({ text: 'a' }, { idempotenceToken: 't-1' });
    const again = await enqueueSql({ text: 'b' }, { idempotenceToken: 't-1' });
    const fromLibrary = await tasks.enqueue(
      harness.pool,
      notes.target.write,
      { text: 'c' },
      { idempotenceToken: 't-1' },
    );
    const viaLibrary = await tasks.enqueue(
      harness.pool,
      notes.target.write,
      { text: 'd' },
      { idempotenceToken: 't-2' },
    );

    expect(again).toBe(first);
    expect(fromLibrary.id).toBe(first);
    expect(await enqueueSql({ text: 'e' }, { idempotenceToken: 't-2' })).toBe(viaLibrary.id);
    // The token is per target and method, compared exactly (utf8mb4_bin).
    expect(await enqueueSql({ text: 'f' }, { idempotenceToken: 'T-1' })).not.toBe(first);
    expect(await harness.countAttempts()).toBe(3);
    expect((await tasks.get(first))!.args).toEqual({ text: 'a' });
  });

  it('two connections racing one token: the second waits for the first, then returns its attempt (or inserts, if it rolled back)', async () => {
    const holder = await harness.pool.getConnection();
    const waiter = await harness.pool.getConnection();
    try {
      for (const outcome of ['commit', 'rollback'] as const) {
        const token = `race-${outcome}`;
        await holder.beginTransaction();
        const held = await callOn(
          holder,
          { text: 'holder' },
          JSON.stringify({ idempotenceToken: token }),
        );
        // The waiter's transaction reads before the holder commits: under REPEATABLE READ a plain
        // read would keep showing it no row for the token.
        await waiter.beginTransaction();
        await waiter.query(`SELECT COUNT(*) FROM \`${harness.database}\`.async_task_attempts`);
        let settled = false;
        const waiting = callOn(
          waiter,
          { text: 'waiter' },
          JSON.stringify({ idempotenceToken: token }),
        ).finally(() => {
          settled = true;
        });
        await waitFor(
          'the waiter to block on the token',
          async () => (await harness.lockWaiters()) > 0,
        );
        expect(settled).toBe(false);
        if (outcome === 'commit') await holder.commit();
        else await holder.rollback();
        const got = await waiting;
        await waiter.commit();

        const [rows] = await harness.pool.query<mysql.RowDataPacket[]>(
          `SELECT CAST(id AS CHAR) AS id FROM \`${harness.database}\`.async_task_attempts WHERE idempotence_token = ?`,
          [token],
        );
        expect(rows.map((row) => String(row['id']))).toEqual([got]);
        if (outcome === 'commit') expect(got).toBe(held);
        else expect(got).not.toBe(held);
        expect((await tasks.get(got))!.args).toEqual({
          text: outcome === 'commit' ? 'holder' : 'waiter',
        });
      }
    } finally {
      holder.release();
      waiter.release();
    }
  });

  it('from a trigger: the task exists if and only if the transaction commits', async () => {
    const orders = `\`${harness.database}\`.orders`;
    await harness.pool.query(`CREATE TABLE ${orders} (number INT PRIMARY KEY) ENGINE = InnoDB`);
    // The trigger of the README's example, enqueueing with `options` (SQL for a JSON object).
    const createTrigger = (options: string) =>
      harness.pool.query(`
        CREATE TRIGGER \`${harness.database}\`.order_placed AFTER INSERT ON ${orders}
        FOR EACH ROW
        BEGIN
          DECLARE attempt_id BIGINT UNSIGNED;
          CALL ${enqueueProc}('Notes', 'write', JSON_OBJECT('text', CONCAT('order ', NEW.number)),
            ${options}, attempt_id);
        END`);
    await createTrigger(`JSON_OBJECT('idempotenceToken', CONCAT('order-', NEW.number))`);

    await harness.pool.query(`INSERT INTO ${orders} VALUES (7)`);
    const rolledBack = await caught(
      harness.transaction(async (connection) => {
        await (connection as mysql.PoolConnection).query(`INSERT INTO ${orders} VALUES (8)`);
        throw new Error('boom');
      }),
    );
    // An enqueue the procedure refuses fails the statement that fired the trigger.
    await harness.pool.query(`ALTER TABLE ${orders} ADD COLUMN queue VARCHAR(200) NULL`);
    await harness.pool.query(`DROP TRIGGER \`${harness.database}\`.order_placed`);
    await createTrigger(`JSON_OBJECT('queue', NEW.queue)`);
    const refused = await caught(
      harness.pool.query(`INSERT INTO ${orders} VALUES (9, 'no spaces')`),
    );

    expect(rolledBack).toMatchObject({ message: 'boom' });
    expect(refused).toMatchObject({
      sqlState: '45000',
      message: expect.stringMatching(
        /^async-task enqueue: queue no spaces is not valid/,
      ) as unknown,
    });
    const [left] = await harness.pool.query<mysql.RowDataPacket[]>(`SELECT number FROM ${orders}`);
    expect(left.map((row) => Number(row['number']))).toEqual([7]);
    expect(await tasks.runDue()).toMatchObject({ succeeded: 1 });
    expect(notes.ran).toEqual(['order 7']);
  });

  it('refuses bad options with a clear error, and writes nothing', async () => {
    const cases: [unknown, RegExp][] = [
      [{ queu: 'mail' }, /unknown option\(s\) queu; the options are queue/],
      [{ replace: 'pending', idempotenceToken: 't' }, /unknown option\(s\) replace;/],
      [{ queue: 'no spaces' }, /queue no spaces is not valid/],
      [{ queue: '' }, /queue {2}is not valid/],
      [{ queue: 'q'.repeat(101) }, /queue q+ is not valid/],
      [{ priority: 40000 }, /priority must be an integer from -32768 to 32767, got 40000/],
      [{ priority: 1.5 }, /priority must be an integer from -32768 to 32767/],
      [{ maxAttempts: 0 }, /maxAttempts must be at least 1/],
      [{ maxAttempts: 'ten' }, /maxAttempts must be at least 1/],
      [{ idempotenceToken: '' }, /idempotenceToken must be a string of 1-255 characters/],
      [{ idempotenceToken: 't'.repeat(256) }, /idempotenceToken must be a string of 1-255/],
      [{ idempotenceToken: 7 }, /idempotenceToken must be a string of 1-255 characters/],
      [{ scheduledAt: 'tomorrow' }, /scheduledAt must be an ISO 8601 time/],
      [{ scheduledAt: '2030-02-30T00:00:00Z' }, /scheduledAt must be an ISO 8601 time/],
      [{ scheduledAt: '2030-01-01T10:00:00Z\n' }, /scheduledAt must be an ISO 8601 time/],
      [{ scheduledAt: 1893456000000 }, /scheduledAt must be an ISO 8601 time/],
      [[1], /options must be a JSON object, got \[1\]/],
      ['"mail"', /options must be a JSON object/],
    ];
    for (const [options, message] of cases) {
      const text = typeof options === 'string' ? options : JSON.stringify(options);
      const connection = await harness.pool.getConnection();
      try {
        const error = await caught(callOn(connection, { text: 'x' }, text));
        expect(error, text).toMatchObject({
          errno: 1644,
          sqlState: '45000',
          message: expect.stringMatching(/^async-task enqueue: /) as unknown,
        });
        expect((error as Error).message, text).toMatch(message);
        expect((error as Error).message.length).toBeLessThanOrEqual(128);
      } finally {
        connection.release();
      }
    }
    const connection = await harness.pool.getConnection();
    try {
      expect(
        await caught(
          connection.query(`CALL ${enqueueProc}(NULL, 'write', NULL, NULL, @attempt_id)`),
        ),
      ).toMatchObject({ message: 'async-task enqueue: target and method are required' });
      expect(
        await caught(connection.query(`CALL ${enqueueProc}('Notes', '', NULL, NULL, @attempt_id)`)),
      ).toMatchObject({ message: 'async-task enqueue: target and method are required' });
      expect(
        await caught(
          connection.query(`CALL ${enqueueProc}('Notes', 'write', 'not json', NULL, @attempt_id)`),
        ),
      ).toMatchObject({ message: 'async-task enqueue: args must be JSON text, or NULL' });
      expect(
        await caught(
          connection.query(`CALL ${enqueueProc}(?, 'write', NULL, NULL, @attempt_id)`, [
            'T'.repeat(201),
          ]),
        ),
      ).toMatchObject({ message: expect.stringMatching(/target may have at most 200/) as unknown });
    } finally {
      connection.release();
    }
    expect(await harness.countAttempts()).toBe(0);
  });

  it("a duplicate on a unique index of the user's own is an error, not a retry loop", async () => {
    await harness.pool.query(
      `ALTER TABLE \`${harness.database}\`.async_task_attempts ADD UNIQUE KEY own_idx (queue)`,
    );
    await enqueueSql({ text: 'first' }, { queue: 'solo' });
    for (const options of [{ queue: 'solo' }, { queue: 'solo', idempotenceToken: 'u' }]) {
      expect(await caught(enqueueSql({ text: 'second' }, options))).toMatchObject({
        sqlState: '23000',
        message: expect.stringMatching(
          /duplicate key that is not its idempotence token/,
        ) as unknown,
      });
    }
    expect(await harness.countAttempts()).toBe(1);
  });

  it('validates the same when migrate() ran under a lax sql_mode', async () => {
    await tasks.uninstall();
    const lax = mysql.createPool({ uri: mysqlUrlFor(harness.database), connectionLimit: 2 });
    lax.pool.on('connection', (connection) => {
      connection.query("SET SESSION sql_mode = ''");
    });
    try {
      const laxTasks = new AsyncTask({
        driver: mysql2Driver(lax),
        targets: [notes.target],
        table: harness.table,
      });
      expect((await laxTasks.migrate()).applied).toContain(7);
      const [rows] = await harness.pool.query<mysql.RowDataPacket[]>(
        `SELECT SQL_MODE AS mode FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?`,
        [harness.database],
      );
      expect(rows.map((row) => String(row['mode']))).toEqual(['']);
      for (const [options, message] of [
        [{ priority: 40000 }, /priority must be an integer/],
        [{ maxAttempts: 3_000_000_000 }, /maxAttempts must be at least 1/],
        [{ scheduledAt: '2030-02-30T00:00:00Z' }, /scheduledAt must be an ISO 8601 time/],
        [{ idempotenceToken: 't'.repeat(256) }, /idempotenceToken must be a string/],
      ] as const) {
        expect(await caught(enqueueSql({ text: 'x' }, options))).toMatchObject({
          message: expect.stringMatching(message) as unknown,
        });
      }
      expect(
        await caught(
          harness.pool.query(`CALL ${enqueueProc}(?, 'write', NULL, NULL, @attempt_id)`, [
            'T'.repeat(201),
          ]),
        ),
      ).toMatchObject({ message: expect.stringMatching(/target may have at most 200/) as unknown });
      expect(await harness.countAttempts()).toBe(0);
      const id = await enqueueSql({ text: 'lax' }, { scheduledAt: '2030-01-02T03:04:05Z' });
      expect((await tasks.get(id))!.scheduledAt.toISOString()).toBe('2030-01-02T03:04:05.000Z');
    } finally {
      await lax.end();
    }
  });

  it('outlives a dropped table: migrate() creates it again; uninstall() removes it', async () => {
    const routines = async () => {
      const [rows] = await harness.pool.query<mysql.RowDataPacket[]>(
        `SELECT ROUTINE_NAME AS name FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?`,
        [harness.database],
      );
      return rows.map((row) => String(row['name']));
    };
    await harness.pool.query(`DROP TABLE \`${harness.database}\`.async_task_attempts`);
    expect(await routines()).toEqual(['async_task_attempts_enqueue']);

    expect((await tasks.migrate()).applied).toContain(7);
    const id = await enqueueSql({ text: 'again' });
    expect(await tasks.runDue()).toMatchObject({ succeeded: 1 });
    expect((await tasks.get(id))!.status).toBe('succeeded');

    expect((await tasks.uninstall()).removed).toContain(
      `procedure \`${harness.database}\`.\`async_task_attempts_enqueue\``,
    );
    expect(await routines()).toEqual([]);
  });

  it('a table name too long for `<name>_enqueue` (64 characters): the name is cut and hashed', async () => {
    const name = `t${'x'.repeat(62)}`;
    const table = { schema: harness.database, name };
    const procedure = enqueueProcedure(table);
    expect(procedure.name).toMatch(/^tx+_enqueue_[0-9a-f]{12}$/);
    expect(procedure.name.length).toBeLessThanOrEqual(64);
    // Two long names alike but for their end get two procedures.
    expect(enqueueProcedure({ ...table, name: `${name.slice(0, -1)}y` }).name).not.toBe(
      procedure.name,
    );
    const long = new AsyncTask({
      driver: harness.driver,
      targets: [notes.target],
      table: `${harness.database}.${name}`,
    });
    await long.migrate();

    const id = await enqueueSql(
      { text: 'long' },
      {},
      `\`${harness.database}\`.\`${procedure.name}\``,
    );
    expect(await long.runDue()).toMatchObject({ succeeded: 1 });
    expect((await long.get(id))!.status).toBe('succeeded');
    expect(notes.ran).toEqual(['long']);
    expect((await long.uninstall()).removed).toContain(
      `procedure \`${harness.database}\`.\`${procedure.name}\``,
    );
  });
});
