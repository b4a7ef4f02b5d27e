// What only MySQL / MariaDB and mysql2 have: session time zones and client date options that
// must not move a stored time, DATETIME(3) precision, DDL that commits by itself (so migrate()
// resumes instead of rolling back, and serialises on a named lock across processes), InnoDB's
// locking reads under REPEATABLE READ, and writes without RETURNING that must still know which
// rows they wrote.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createPool as createCallbackPool } from 'mysql2';
import mysql from 'mysql2/promise';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AsyncTask,
  ConfigError,
  DatabaseError,
  SchemaOutdatedError,
  defineTarget,
  type Target,
  type TaskContext,
} from '../../src/index.js';
import { mysqlDialect } from '../../src/dialects/mysql/index.js';
import { parseTableName } from '../../src/core/table-name.js';
import type { Driver } from '../../src/seam/driver.js';
import { mysql2Driver, type Mysql2PoolConnection } from '../../src/drivers/mysql2.js';
import { caught, caughtSync } from '../harness/caught.js';
import { mysqlHarness, mysqlUrlFor } from '../harness/mysql.js';

type MysqlHarness = Awaited<ReturnType<typeof mysqlHarness>>;

function shopTarget(
  behaviour: (args: { n: number }, ctx: TaskContext) => void | Promise<void> = () => undefined,
) {
  return defineTarget('Shop', {
    order: async (args: { n: number }, ctx: TaskContext) => {
      await behaviour(args, ctx);
    },
  });
}

function newTasks(
  driver: Driver<unknown, unknown>,
  harness: MysqlHarness,
  target: Target = shopTarget(),
): AsyncTask<unknown, unknown> {
  return new AsyncTask({ driver, table: harness.table, targets: [target] });
}

/** A pool on the harness's database whose sessions run in `timeZone`, with mysql2 options. */
function poolIn(
  harness: MysqlHarness,
  timeZone: string,
  options: Partial<mysql.PoolOptions> = {},
): mysql.Pool {
  const pool = mysql.createPool({
    uri: mysqlUrlFor(harness.database),
    connectionLimit: 4,
    ...options,
  });
  // The pool's `connection` event hands out the callback-style connection.
  pool.pool.on('connection', (connection) => {
    connection.query(`SET time_zone = '${timeZone}'`);
  });
  return pool;
}

async function sessionTimeZone(pool: mysql.Pool): Promise<string> {
  const [rows] = await pool.query<mysql.RowDataPacket[]>('SELECT @@session.time_zone AS tz');
  return String(rows[0]?.['tz']);
}

async function rawRow(
  harness: MysqlHarness,
  id: string,
): Promise<Record<string, string | number | null>> {
  const [rows] = await harness.pool.query<mysql.RowDataPacket[]>(
    `SELECT DATE_FORMAT(scheduled_at, '%Y-%m-%d %H:%i:%s.%f') AS scheduled_at,
       DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s.%f') AS created_at,
       status, locked_by, DATE_FORMAT(locked_until, '%Y-%m-%d %H:%i:%s.%f') AS locked_until
     FROM \`${harness.database}\`.async_task_attempts WHERE id = ?`,
    [id],
  );
  return rows[0] as Record<string, string | number | null>;
}

describe('mysql/mysql2: time zones', () => {
  let harness: MysqlHarness;
  const pools: mysql.Pool[] = [];
  beforeEach(async () => {
    harness = await mysqlHarness();
  });
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((pool) => pool.end()));
    await harness.close();
  });

  it('stores UTC whatever the session time_zone and mysql2 date options, and every session reads the same instant', async () => {
    const tokyo = poolIn(harness, '+09:00', { timezone: '+05:00' });
    const denver = poolIn(harness, '-07:00', {
      dateStrings: true,
      supportBigNumbers: true,
      bigNumberStrings: true,
    });
    pools.push(tokyo, denver);
    expect(await sessionTimeZone(tokyo)).toBe('+09:00');
    expect(await sessionTimeZone(denver)).toBe('-07:00');
    const ran: number[] = [];
    const target = shopTarget((args) => {
      ran.push(args.n);
    });
    const inTokyo = newTasks(mysql2Driver(tokyo), harness, target);
    const inDenver = newTasks(mysql2Driver(denver), harness, target);
    await inTokyo.migrate();

    const later = new Date('2031-03-04T05:06:07.089Z');
    const before = Date.now();
    const [scheduled, dueNow] = await inTokyo.enqueueMany(tokyo, [
      { method: target.order, args: { n: 1 }, options: { scheduledAt: later } },
      { method: target.order, args: { n: 2 } },
    ]);

    expect(scheduled!.scheduledAt.toISOString()).toBe(later.toISOString());
    expect((await inDenver.get(scheduled!.id))?.scheduledAt.toISOString()).toBe(
      later.toISOString(),
    );
    expect(await rawRow(harness, scheduled!.id)).toMatchObject({
      scheduled_at: '2031-03-04 05:06:07.089000',
    });
    // "Due now" is the server's UTC clock, read the same from a session 16 hours away.
    const fromDenver = await inDenver.get(dueNow!.id);
    expect(fromDenver?.createdAt.getTime()).toBeGreaterThanOrEqual(before - 5000);
    expect(fromDenver?.createdAt.getTime()).toBeLessThanOrEqual(Date.now() + 5000);
    expect(fromDenver?.scheduledAt.getTime()).toBe(dueNow!.scheduledAt.getTime());
    expect(await inDenver.runDue()).toMatchObject({ claimed: 1, succeeded: 1 });
    expect(ran).toEqual([2]);
    const done = await inTokyo.get(dueNow!.id);
    expect(done?.completedAt?.getTime()).toBeGreaterThanOrEqual(before - 5000);
    expect(done?.completedAt?.getTime()).toBeLessThanOrEqual(Date.now() + 5000);
  });

  it('keeps milliseconds: scheduled, created and completed times are DATETIME(3)', async () => {
    const target = shopTarget();
    const tasksWithTarget = newTasks(harness.driver, harness, target);
    await tasksWithTarget.migrate();
    const at = new Date(Date.now() - 60_000);
    at.setUTCMilliseconds(987);

    const attempt = await tasksWithTarget.enqueue(
      harness.pool,
      target.order,
      { n: 1 },
      { scheduledAt: at },
    );

    expect(attempt.scheduledAt.getTime()).toBe(at.getTime());
    expect((await rawRow(harness, attempt.id))['scheduled_at']).toMatch(/\.987000$/);
    await tasksWithTarget.runDue();
    const done = await tasksWithTarget.get(attempt.id);
    expect(done?.status).toBe('succeeded');
    const [rows] = await harness.pool.query<mysql.RowDataPacket[]>(
      `SELECT COLUMN_NAME AS c, DATETIME_PRECISION AS p FROM information_schema.COLUMNS
       WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'async_task_attempts' AND DATA_TYPE = 'datetime'
       ORDER BY ORDINAL_POSITION`,
      [harness.database],
    );
    expect(rows.map((row) => [String(row['c']), Number(row['p'])])).toEqual([
      ['scheduled_at', 3],
      ['completed_at', 3],
      ['locked_until', 3],
      ['created_at', 3],
      ['updated_at', 3],
      ['cancel_requested_at', 3],
    ]);
  });

  it('refuses a time MySQL cannot store (before year 1000) with a ConfigError, writing nothing', async () => {
    const target = shopTarget();
    const tasks = newTasks(harness.driver, harness, target);
    await tasks.migrate();
    const error = await caught(
      tasks.enqueue(harness.pool, target.order, { n: 1 }, { scheduledAt: new Date(-50e12) }),
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(await harness.countAttempts()).toBe(0);
  });
});

describe('mysql/mysql2: the packet limit', () => {
  let harness: MysqlHarness;
  beforeEach(async () => {
    harness = await mysqlHarness();
  });
  afterEach(() => harness.close());

  // Past max_allowed_packet the server may just close the connection: the error said
  // "MySQL refused the statement: write ECONNRESET", nothing about the size.
  it('says an enqueue past max_allowed_packet may be too large for it, writing nothing', async () => {
    const Files = defineTarget('Files', { store(_args: { body: string }) {} });
    const tasks = newTasks(harness.driver, harness, Files);
    await tasks.migrate();
    const [rows] = await harness.pool.query<mysql.RowDataPacket[]>(
      'SELECT @@max_allowed_packet AS max',
    );
    const max = Number(rows[0]?.['max']);
    expect(max, 'a server whose limit a test can pass').toBeLessThanOrEqual(64 * 2 ** 20);
    const body = 'x'.repeat(max + 2 ** 20);
    const error = await caught(tasks.enqueue(harness.pool, Files.store, { body }));
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as Error).message).toMatch(/MB: past the server's max_allowed_packet\? Raise it/);
    // The pool may hand out the connection the server closed once more.
    expect(await harness.countAttempts().catch(() => harness.countAttempts())).toBe(0);
  });
});

describe('mysql/mysql2: rows', () => {
  let harness: MysqlHarness;
  beforeEach(async () => {
    harness = await mysqlHarness();
  });
  afterEach(() => harness.close());

  it('keeps ids beyond 2^53 exact: enqueue, get, list, run', async () => {
    const ran: string[] = [];
    const target = shopTarget((_args, ctx) => {
      ran.push(ctx.attempt.id);
    });
    const tasks = newTasks(harness.driver, harness, target);
    await tasks.migrate();
    await harness.pool.query(
      `ALTER TABLE \`${harness.database}\`.async_task_attempts AUTO_INCREMENT = 9007199254740993`,
    );

    const [a, b] = await tasks.enqueueMany(harness.pool, [
      { method: target.order, args: { n: 1 } },
      { method: target.order, args: { n: 2 } },
    ]);

    expect([a!.id, b!.id]).toEqual(['9007199254740993', '9007199254740994']);
    expect((await tasks.get('9007199254740994'))?.args).toEqual({ n: 2 });
    expect((await tasks.list({ before: '9007199254740994' })).map((x) => x.id)).toEqual([
      '9007199254740993',
    ]);
    await tasks.runDue();
    expect(ran.sort()).toEqual(['9007199254740993', '9007199254740994']);
  });

  it('compares idempotence tokens exactly: case, accents and trailing spaces are different tokens', async () => {
    const target = shopTarget();
    const tasks = newTasks(harness.driver, harness, target);
    await tasks.migrate();
    const tokens = ['order-7', 'Order-7', 'order-7 ', 'ordér-7', 'order-7'];

    const attempts = await harness.transaction((tx) =>
      tasks.enqueueMany(
        tx,
        tokens.map((idempotenceToken, n) => ({
          method: target.order,
          args: { n },
          options: { idempotenceToken },
        })),
      ),
    );

    expect(new Set(attempts.map((x) => x.id)).size).toBe(4);
    expect(attempts[4]!.id).toBe(attempts[0]!.id);
    expect(attempts.map((x) => x.idempotenceToken)).toEqual(tokens);
    expect(await harness.countAttempts()).toBe(4);
  });

  it('enqueues through the pool (statements on any connection) and leaves no marker behind', async () => {
    const target = shopTarget();
    const tasks = newTasks(harness.driver, harness, target);
    await tasks.migrate();

    const attempts = await tasks.enqueueMany(
      harness.pool,
      Array.from({ length: 50 }, (_, n) => ({
        method: target.order,
        args: { n },
        options: n % 5 === 0 ? { idempotenceToken: `t${n}` } : {},
      })),
    );

    expect(attempts.map((x) => (x.args as { n: number }).n)).toEqual(
      Array.from({ length: 50 }, (_, n) => n),
    );
    const [rows] = await harness.pool.query<mysql.RowDataPacket[]>(
      `SELECT COUNT(*) AS n FROM \`${harness.database}\`.async_task_attempts
       WHERE locked_by IS NOT NULL OR locked_until IS NOT NULL`,
    );
    expect(Number(rows[0]?.['n'])).toBe(0);
  });

  it('prunes finished attempts completed before the cutoff, in bounded batches, and counts by status', async () => {
    const target = shopTarget();
    const tasks = newTasks(harness.driver, harness, target);
    await tasks.migrate();
    const attempts = await tasks.enqueueMany(
      harness.pool,
      Array.from({ length: 6 }, (_, n) => ({ method: target.order, args: { n } })),
    );
    await tasks.expire(attempts[0]!.id);
    await tasks.fail(attempts[1]!.id);
    await tasks.expire(attempts[2]!.id);
    await harness.pool.query(
      `UPDATE \`${harness.database}\`.async_task_attempts
       SET completed_at = UTC_TIMESTAMP(3) - INTERVAL 2 DAY WHERE id IN (?, ?)`,
      [attempts[0]!.id, attempts[1]!.id],
    );
    const table = parseTableName(harness.table);
    const prune = (limit: number) =>
      harness.driver.run((connection) =>
        mysqlDialect
          .executor(connection, table)
          .attemptPrune({ before: new Date(Date.now() - 86_400_000), afterId: '0', limit })
          .then((batch) => batch.deleted),
      );

    expect(await prune(1)).toBe(1);
    expect(await prune(10)).toBe(1);
    expect(await prune(10)).toBe(0);

    expect(await tasks.get(attempts[0]!.id)).toBeNull();
    expect(await tasks.get(attempts[1]!.id)).toBeNull();
    expect(await tasks.get(attempts[2]!.id)).toMatchObject({ status: 'expired' });
    const stats = await harness.driver.run((connection) =>
      mysqlDialect.executor(connection, table).attemptStats(),
    );
    expect(stats.sort((a, b) => a.status.localeCompare(b.status))).toEqual([
      { status: 'expired', queue: 'default', count: 1, approximate: false },
      { status: 'pending', queue: 'default', count: 3, approximate: false },
    ]);
  });

  it('rescues an expired lease as failed, with completedAt, when no attempt is left', async () => {
    const target = shopTarget();
    const tasks = newTasks(harness.driver, harness, target);
    await tasks.migrate();
    const [spent, again] = await tasks.enqueueMany(harness.pool, [
      { method: target.order, args: { n: 1 }, options: { maxAttempts: 1 } },
      { method: target.order, args: { n: 2 }, options: { maxAttempts: 2 } },
    ]);
    const table = parseTableName(harness.table);
    const run = <T>(fn: (e: ReturnType<typeof mysqlDialect.executor>) => Promise<T>): Promise<T> =>
      harness.driver.run((connection) => fn(mysqlDialect.executor(connection, table)));
    await run((e) =>
      e.attemptClaim({
        lockedBy: 'gone',
        limit: 2,
        leaseMs: 60_000,
        queues: null,
        horizon: null,
        durable: false,
      }),
    );
    await harness.expireLease(spent!.id);
    await harness.expireLease(again!.id);

    const rescued = await run((e) => e.attemptRescueExpired(10));

    expect(rescued.map((r) => [r.id, r.status, r.lockedBy, r.lockedUntil])).toEqual([
      [spent!.id, 'failed', null, null],
      [again!.id, 'pending', null, null],
    ]);
    expect(rescued[0]!.completedAt).toBeInstanceOf(Date);
    expect(rescued[1]!.completedAt).toBeNull();
    for (const record of rescued) {
      expect(record.lastError).toBe(
        'LeaseExpired: the lease of worker gone ran out before it finished',
      );
    }
    expect(await run((e) => e.attemptRescueExpired(10))).toEqual([]);
  });

  it('keeps a row marked by an enqueue still in flight away from the claim until its hold ends', async () => {
    const target = shopTarget();
    const tasks = newTasks(harness.driver, harness, target);
    await tasks.migrate();
    const attempt = await tasks.enqueue(harness.pool, target.order, { n: 1 });
    const table = `\`${harness.database}\`.async_task_attempts`;
    // What a process that died between its INSERT and its unmark leaves behind.
    await harness.pool.query(
      `UPDATE ${table} SET locked_by = 'async-task:enqueue:crashed',
         locked_until = UTC_TIMESTAMP(3) + INTERVAL 1 MINUTE WHERE id = ?`,
      [attempt.id],
    );

    expect(await tasks.runDue()).toMatchObject({ claimed: 0 });
    expect(await tasks.get(attempt.id)).toMatchObject({ status: 'pending' });

    await harness.pool.query(
      `UPDATE ${table} SET locked_until = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND WHERE id = ?`,
      [attempt.id],
    );
    expect(await tasks.runDue()).toMatchObject({ claimed: 1, succeeded: 1 });
  });
});

describe('mysql/mysql2: locking', () => {
  let harness: MysqlHarness;
  beforeEach(async () => {
    harness = await mysqlHarness({ max: 12 });
  });
  afterEach(() => harness.close());

  it('finds a token committed after the caller’s snapshot was taken (locking read under REPEATABLE READ)', async () => {
    const target = shopTarget();
    const tasks = newTasks(harness.driver, harness, target);
    await tasks.migrate();
    const options = { idempotenceToken: 'late' };
    const winner = await harness.pool.getConnection();
    await winner.beginTransaction();
    const first = await tasks.enqueue(winner, target.order, { n: 1 }, options);

    const second = harness.transaction(async (tx) => {
      const connection = tx as Mysql2PoolConnection;
      // A consistent read fixes this transaction's snapshot before the winner commits.
      await connection.query({ sql: `SELECT COUNT(*) FROM ${harness.table}` });
      return tasks.enqueue(tx, target.order, { n: 2 }, options);
    });
    await waitUntil(async () => (await harness.lockWaiters()) === 1);
    await winner.commit();
    winner.release();

    expect((await second).id).toBe(first.id);
    expect((await second).args).toEqual({ n: 1 });
    expect(await harness.countAttempts()).toBe(1);
  });

  it('hands the token to the one waiter when its holder rolls back', async () => {
    const target = shopTarget();
    const tasks = newTasks(harness.driver, harness, target);
    await tasks.migrate();
    const options = { idempotenceToken: 'retry-me' };
    const holder = await harness.pool.getConnection();
    await holder.beginTransaction();
    await tasks.enqueue(holder, target.order, { n: -1 }, options);

    const waiter = harness.transaction((tx) => tasks.enqueue(tx, target.order, { n: 1 }, options));
    await waitUntil(async () => (await harness.lockWaiters()) === 1);
    await holder.rollback();
    holder.release();

    const survivor = await waiter;
    expect(survivor.args).toEqual({ n: 1 });
    expect(await harness.countAttempts()).toBe(1);
  });

  it('records a completion inside Driver.transaction in that transaction only (no implicit commit)', async () => {
    const target = shopTarget();
    const tasks = newTasks(harness.driver, harness, target);
    await tasks.migrate();
    const [a, b] = await tasks.enqueueMany(harness.pool, [
      { method: target.order, args: { n: 1 } },
      { method: target.order, args: { n: 2 } },
    ]);
    const table = parseTableName(harness.table);
    const { records } = await harness.driver.run((connection) =>
      mysqlDialect.executor(connection, table).attemptClaim({
        lockedBy: 'w1',
        limit: 2,
        leaseMs: 60_000,
        queues: null,
        horizon: null,
        durable: false,
      }),
    );
    expect(records.map((record) => record.id).sort()).toEqual([a!.id, b!.id].sort());
    const leases = records.map((record) => ({
      id: record.id,
      numAttempts: record.numAttempts,
      status: 'succeeded' as const,
      delayMs: 0,
      error: null,
    }));
    const rolledBack = new Error('roll back');

    const error = await caught(
      harness.driver.transaction(async (connection) => {
        const written = await mysqlDialect
          .executor(connection, table)
          .attemptCompleteMany('w1', leases);
        expect(written.sort()).toEqual([a!.id, b!.id].sort());
        throw rolledBack;
      }),
    );

    expect(error).toBe(rolledBack);
    expect(await tasks.get(a!.id)).toMatchObject({ status: 'running' });
    expect(await tasks.get(b!.id)).toMatchObject({ status: 'running' });
  });

  it('tells exactly which fenced completions were written, and clears its marker', async () => {
    const target = shopTarget();
    const tasks = newTasks(harness.driver, harness, target);
    await tasks.migrate();
    await tasks.enqueueMany(
      harness.pool,
      Array.from({ length: 3 }, (_, n) => ({ method: target.order, args: { n } })),
    );
    const table = parseTableName(harness.table);
    const executor = <T>(
      fn: (e: ReturnType<typeof mysqlDialect.executor>) => Promise<T>,
    ): Promise<T> =>
      harness.driver.run((connection) => fn(mysqlDialect.executor(connection, table)));
    const claim = (lockedBy: string) =>
      executor((e) =>
        e.attemptClaim({
          lockedBy,
          limit: 3,
          leaseMs: 60_000,
          queues: null,
          horizon: null,
          durable: false,
        }),
      );
    const { records } = await claim('old');
    const lost = records[1]!;
    // The old worker's lease on one attempt runs out; it is rescued and claimed by another.
    await harness.expireLease(lost.id);
    expect((await executor((e) => e.attemptRescueExpired(10))).map((r) => r.id)).toEqual([lost.id]);
    const { records: reclaimed } = await claim('new');
    expect(reclaimed.map((r) => [r.id, r.numAttempts])).toEqual([[lost.id, 2]]);

    const written = await executor((e) =>
      e.attemptCompleteMany(
        'old',
        records.map((record) => ({
          id: record.id,
          numAttempts: record.numAttempts,
          status: 'succeeded' as const,
          delayMs: 0,
          error: null,
        })),
      ),
    );

    expect(written.sort()).toEqual(
      records
        .filter((r) => r.id !== lost.id)
        .map((r) => r.id)
        .sort(),
    );
    expect(await rawRow(harness, lost.id)).toMatchObject({ status: 'running', locked_by: 'new' });
    for (const record of records.filter((r) => r.id !== lost.id)) {
      expect(await rawRow(harness, record.id)).toMatchObject({
        status: 'succeeded',
        locked_by: null,
        locked_until: null,
      });
    }
    // The lease the new worker holds is still its own: extended, then released.
    expect(
      await executor((e) => e.attemptExtendLeases('new', [{ id: lost.id, numAttempts: 2 }], 1000)),
    ).toEqual([lost.id]);
    expect(
      await executor((e) => e.attemptExtendLeases('old', [{ id: lost.id, numAttempts: 1 }], 1000)),
    ).toEqual([]);
    expect(
      await executor((e) => e.attemptReleaseMany('new', [{ id: lost.id, numAttempts: 2 }])),
    ).toEqual([lost.id]);
    expect(await tasks.get(lost.id)).toMatchObject({ status: 'pending', numAttempts: 1 });
  });
});

describe('mysql/mysql2: the driver', () => {
  let harness: MysqlHarness;
  beforeEach(async () => {
    harness = await mysqlHarness();
  });
  afterEach(() => harness.close());

  it('refuses what is not a mysql2/promise pool, and a callback-style connection at the call', async () => {
    const callbackPool = createCallbackPool({ uri: mysqlUrlFor(harness.database) });
    try {
      expect(caughtSync(() => mysql2Driver(callbackPool as never))).toBeInstanceOf(ConfigError);
      const connection = await harness.pool.getConnection();
      try {
        expect(caughtSync(() => mysql2Driver(connection as never))).toBeInstanceOf(ConfigError);
      } finally {
        connection.release();
      }
      const target = shopTarget();
      const tasks = newTasks(harness.driver, harness, target);
      await tasks.migrate();
      expect(caughtSync(() => tasks.enqueue(callbackPool, target.order, { n: 1 }))).toBeInstanceOf(
        ConfigError,
      );
    } finally {
      await new Promise((resolve) => callbackPool.end(resolve));
    }
  });

  it('types: enqueue takes mysql2/promise’s own PoolConnection and Pool', async () => {
    const target = shopTarget();
    const tasks = new AsyncTask({
      driver: mysql2Driver(harness.pool),
      table: harness.table,
      targets: [target],
    });
    await tasks.migrate();
    const connection: mysql.PoolConnection = await harness.pool.getConnection();
    try {
      await connection.beginTransaction();
      const inTransaction = await tasks.enqueue(connection, target.order, { n: 1 });
      await connection.commit();
      const withPool = await tasks.enqueue(harness.pool, target.order, { n: 2 });
      expect([inTransaction.args, withPool.args]).toEqual([{ n: 1 }, { n: 2 }]);
    } finally {
      connection.release();
    }
  });

  it('turns a refused statement into a DatabaseError with the client error as cause, writing nothing', async () => {
    const target = defineTarget('Shop', { order: (_args: object) => undefined });
    const tasks = new AsyncTask({
      driver: harness.driver,
      table: harness.table,
      targets: [target],
    });
    await tasks.migrate();
    // A trigger of the user's that refuses the row.
    await harness.pool.query(
      `CREATE TRIGGER \`${harness.database}\`.refuse_orders BEFORE INSERT ON \`${harness.database}\`.async_task_attempts
       FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'no orders today'`,
    );

    const error = await caught(harness.transaction((tx) => tasks.enqueue(tx, target.order, {})));

    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as Error).message).toMatch(/no orders today/);
    expect(((error as DatabaseError).cause as { code?: string }).code).toBe('ER_SIGNAL_EXCEPTION');
    expect(await harness.countAttempts()).toBe(0);
  });
});

/** Every migration version, 1 to the latest: what migrating an empty database applies. */
const allVersions = Array.from({ length: mysqlDialect.latestVersion }, (_, i) => i + 1);

describe('mysql/mysql2: migrate', () => {
  let harness: MysqlHarness;
  beforeEach(async () => {
    harness = await mysqlHarness();
  });
  afterEach(() => harness.close());

  const table = () => `\`${harness.database}\`.async_task_attempts`;
  /** Sets the table's comment, where the schema version lives. */
  const setMarker = (text: string) =>
    harness.pool.query(`ALTER TABLE ${table()} COMMENT = '${text}'`);

  it('resumes a migration that started and did not finish (DDL commits implicitly)', async () => {
    const target = shopTarget();
    const tasks = newTasks(harness.driver, harness, target);
    await tasks.migrate();
    // Play a migrate() that died inside the last migration, after marking it as applying.
    const last = mysqlDialect.latestVersion;
    await setMarker(`async-task schema ${last - 1}, applying ${last}`);
    expectSchemaOutdated(await caught(newTasks(harness.driver, harness, target).runDue()));

    expect(await newTasks(harness.driver, harness, target).migrate()).toEqual({ applied: [last] });
    expect(await newTasks(harness.driver, harness, target).migrate()).toEqual({ applied: [] });
    await tasks.enqueue(harness.pool, target.order, { n: 1 });
    expect(await tasks.runDue()).toMatchObject({ succeeded: 1 });
  });

  it('does not adopt a table of the same name it did not create', async () => {
    await harness.pool.query(`CREATE TABLE ${table()} (id INT PRIMARY KEY)`);
    const error = await caught(newTasks(harness.driver, harness).migrate());
    expect(error).toBeInstanceOf(SchemaOutdatedError);
    const [columns] = await harness.pool.query<mysql.RowDataPacket[]>(
      `SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'async_task_attempts'`,
      [harness.database],
    );
    expect(columns.map((row) => String(row['c']))).toEqual(['id']);
  });

  it('refuses a schema carrying a breaking migration from a newer async-task', async () => {
    const tasks = newTasks(harness.driver, harness);
    await tasks.migrate();
    await setMarker('async-task schema 99, breaking 99');
    expect(await caught(newTasks(harness.driver, harness).migrate())).toBeInstanceOf(
      SchemaOutdatedError,
    );
    expect(await caught(newTasks(harness.driver, harness).runDue())).toBeInstanceOf(
      SchemaOutdatedError,
    );
  });

  it('creates the database of a schema-qualified table when it is missing', async () => {
    const other = `${harness.database}_other`;
    const tasks = new AsyncTask({
      driver: harness.driver,
      table: `${other}.jobs`,
      targets: [shopTarget()],
    });
    try {
      expect(await tasks.migrate()).toEqual({ applied: allVersions });
      const [rows] = await harness.pool.query<mysql.RowDataPacket[]>(
        `SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY 1`,
        [other],
      );
      // The attempts and, beside them, flow control's lock rows and rate limits' starts (0004),
      // and the worker registry (0005).
      expect(rows.map((row) => String(row['t']))).toEqual([
        'jobs',
        'jobs_flow',
        'jobs_starts',
        'jobs_workers',
      ]);
    } finally {
      await harness.pool.query(`DROP DATABASE IF EXISTS \`${other}\``);
    }
  });

  it('serialises migrate() from 5 processes on a named lock: applied once, no errors', async () => {
    const results = await Promise.all(
      Array.from({ length: 5 }, () => migrateInChild(harness.childEnv())),
    );
    const applied = results.flatMap((result) => result.applied);
    expect(applied).toEqual(allVersions);
    expect(results.filter((result) => result.applied.length === 0)).toHaveLength(4);
    // And from 5 connections of this process at once, on the migrated table: nothing to do.
    const again = await Promise.all(
      Array.from({ length: 5 }, () => newTasks(harness.driver, harness).migrate()),
    );
    expect(again.flatMap((result) => result.applied)).toEqual([]);
  });
});

function expectSchemaOutdated(error: unknown): void {
  expect(error).toBeInstanceOf(SchemaOutdatedError);
  expect((error as Error).message).toContain('migrate');
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const childDriver = fileURLToPath(new URL('../harness/child-driver.ts', import.meta.url));
const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Runs `migrate()` in a separate Node process built from `childEnv()`; its result as JSON. */
function migrateInChild(env: Record<string, string>): Promise<{ applied: number[] }> {
  const script = `
    const { driverFromEnv } = await import(${JSON.stringify(childDriver)});
    const { AsyncTask } = await import(${JSON.stringify(`${repositoryRoot}src/index.ts`)});
    const { driver, table, close } = await driverFromEnv();
    try {
      const result = await new AsyncTask({ driver, table, targets: [] }).migrate();
      process.stdout.write(JSON.stringify(result));
    } finally {
      await close();
    }`;
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '--eval', script],
      { cwd: repositoryRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(JSON.parse(stdout) as { applied: number[] });
      else reject(new Error(`migrate child exited with ${code}: ${stderr}`));
    });
  });
}
