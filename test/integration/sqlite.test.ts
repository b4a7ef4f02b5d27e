// What only SQLite and better-sqlite3 have: a synchronous transaction that enqueue writes into,
// a worker connection of its own (WAL, asynchronous lock waits), an in-memory mode sharing `db`,
// no schemas, and claims that are atomic across processes without SKIP LOCKED.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AsyncTask,
  ConfigError,
  DatabaseError,
  SchemaOutdatedError,
  SerializationError,
  defineTarget,
  type Attempt,
  type TaskContext,
} from '../../src/index.js';
import { sqliteDialect } from '../../src/dialects/sqlite/index.js';
import type { SqlConnection } from '../../src/seam/sql-connection.js';
import { betterSqlite3Driver } from '../../src/drivers/better-sqlite3.js';
import { caught, caughtSync } from '../harness/caught.js';
import { Database, sqliteHarness, type TestDatabase } from '../harness/sqlite.js';

type SqliteHarness = Awaited<ReturnType<typeof sqliteHarness>>;

function shopTarget(
  behaviour: (args: { n: number }, ctx: TaskContext) => void | Promise<void> = () => undefined,
) {
  return defineTarget('Shop', {
    // An arrow property, not a method, so passing `target.order` around is not an unbound method.
    order: async (args: { n: number }, ctx: TaskContext) => {
      await behaviour(args, ctx);
    },
  });
}

async function newTasks(harness: SqliteHarness, target = shopTarget()) {
  const tasks = new AsyncTask({
    driver: harness.sqliteDriver,
    table: harness.table,
    targets: [target],
  });
  await tasks.migrate();
  return { tasks, target };
}

function attemptsIn(db: TestDatabase): number {
  return (db.prepare('SELECT count(*) AS n FROM async_task_attempts').get() as { n: number }).n;
}

describe('sqlite/better-sqlite3: enqueue inside db.transaction (synchronous)', () => {
  let harness: SqliteHarness;
  beforeEach(async () => {
    harness = await sqliteHarness();
    await harness.createSideTable();
  });
  afterEach(() => harness.close());

  it('writes before enqueue returns, and the row exists once db.transaction commits', async () => {
    const { tasks, target } = await newTasks(harness);
    const db = harness.pool;
    let pending: Promise<Attempt> | undefined;
    let insideCount = -1;

    db.transaction(() => {
      db.prepare('INSERT INTO side_effects (key) VALUES (?)').run('order-1');
      pending = tasks.enqueue(db, target.order, { n: 1 });
      insideCount = attemptsIn(db);
    })();

    expect(insideCount).toBe(1);
    const attempt = await pending!;
    expect(attempt).toMatchObject({ status: 'pending', args: { n: 1 } });
    expect(await tasks.get(attempt.id)).toEqual(attempt);
    expect(await harness.sideKeys()).toEqual(['order-1']);
    expect(await tasks.runDue()).toMatchObject({ claimed: 1, succeeded: 1 });
  });

  it('leaves no row when db.transaction throws after the enqueue', async () => {
    const { tasks, target } = await newTasks(harness);
    const db = harness.pool;
    const boom = new Error('boom');
    let pending: Promise<Attempt> | undefined;

    const error = caughtSync(() =>
      db.transaction(() => {
        db.prepare('INSERT INTO side_effects (key) VALUES (?)').run('order-2');
        pending = tasks.enqueue(db, target.order, { n: 2 });
        throw boom;
      })(),
    );

    expect(error).toBe(boom);
    // The promise settled with what the INSERT returned before the rollback; it never rejects.
    const ghost = await pending!;
    expect(await tasks.get(ghost.id)).toBeNull();
    expect(attemptsIn(db)).toBe(0);
    expect(await harness.sideKeys()).toEqual([]);
    expect(await tasks.runDue()).toMatchObject({ claimed: 0 });
  });

  it('throws bad arguments synchronously inside db.transaction, rolling it back', async () => {
    const { tasks, target } = await newTasks(harness);
    const db = harness.pool;

    const error = caughtSync(() =>
      db.transaction(() => {
        db.prepare('INSERT INTO side_effects (key) VALUES (?)').run('order-3');
        void tasks.enqueue(db, target.order, { n: 3n } as unknown as { n: number });
      })(),
    );

    expect(error).toBeInstanceOf(SerializationError);
    expect(attemptsIn(db)).toBe(0);
    expect(await harness.sideKeys()).toEqual([]);
  });

  it('refuses an async encryptor inside db.transaction, rolling it back: the task could only land after it', async () => {
    const target = shopTarget();
    const tasks = new AsyncTask({
      driver: harness.sqliteDriver,
      table: harness.table,
      targets: [target],
      encryptors: {
        slow: {
          encrypt: (text: string) => Promise.resolve(Buffer.from(text).toString('base64')),
          decrypt: (text: string) => Promise.resolve(Buffer.from(text, 'base64').toString()),
        },
      },
    });
    await tasks.migrate();
    const db = harness.pool;

    const error = caughtSync(() =>
      db.transaction(() => {
        db.prepare('INSERT INTO side_effects (key) VALUES (?)').run('order-async');
        void tasks.enqueue(db, target.order, { n: 4 }, { encryptor: 'slow' });
      })(),
    );

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/asynchronous/);
    await new Promise((resolve) => setImmediate(resolve));
    expect(attemptsIn(db)).toBe(0);
    expect(await harness.sideKeys()).toEqual([]);

    // Outside a transaction the same encryptor is fine: the INSERT simply follows the encryption.
    const attempt = await tasks.enqueue(db, target.order, { n: 5 }, { encryptor: 'slow' });
    expect(attempt.encryptor).toBe('slow');
    expect(attemptsIn(db)).toBe(1);
    expect(await tasks.runDue()).toMatchObject({ claimed: 1, succeeded: 1 });
  });

  it('throws an SQL error synchronously (DatabaseError, cause kept), rolling the transaction back', async () => {
    const { tasks, target } = await newTasks(harness);
    const db = harness.pool;
    db.exec(`CREATE TRIGGER refuse_big BEFORE INSERT ON async_task_attempts
      WHEN NEW.method_args LIKE '%"n":99%' BEGIN SELECT RAISE(ABORT, 'orders of 99 are refused'); END`);

    const error = caughtSync(() =>
      db.transaction(() => {
        db.prepare('INSERT INTO side_effects (key) VALUES (?)').run('order-99');
        void tasks.enqueue(db, target.order, { n: 1 });
        void tasks.enqueueMany(db, [
          { method: target.order, args: { n: 2 } },
          { method: target.order, args: { n: 99 } },
        ]);
      })(),
    );

    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as DatabaseError).message).toContain('orders of 99 are refused');
    expect((error as DatabaseError).cause).toMatchObject({ code: 'SQLITE_CONSTRAINT_TRIGGER' });
    expect(attemptsIn(db)).toBe(0);
    expect(await harness.sideKeys()).toEqual([]);
  });

  it('throws SchemaOutdatedError synchronously when migrate() has not run', () => {
    const target = shopTarget();
    const tasks = new AsyncTask({ driver: harness.sqliteDriver, targets: [target] });
    const db = harness.pool;

    const error = caughtSync(() =>
      db.transaction(() => {
        void tasks.enqueue(db, target.order, { n: 1 });
      })(),
    );

    expect(error).toBeInstanceOf(SchemaOutdatedError);
    expect((error as Error).message).toContain('tasks.migrate()');
  });

  it('keeps idempotence inside one synchronous transaction', async () => {
    const { tasks, target } = await newTasks(harness);
    const db = harness.pool;
    const pending: Promise<Attempt>[] = [];

    db.transaction(() => {
      pending.push(tasks.enqueue(db, target.order, { n: 1 }, { idempotenceToken: 't' }));
      pending.push(tasks.enqueue(db, target.order, { n: 2 }, { idempotenceToken: 't' }));
    })();

    const [first, second] = await Promise.all(pending);
    expect(second?.id).toBe(first?.id);
    expect(second?.args).toEqual({ n: 1 });
    expect(attemptsIn(db)).toBe(1);
  });
});

describe('sqlite/better-sqlite3: the worker connection', () => {
  let harness: SqliteHarness;
  beforeEach(async () => {
    harness = await sqliteHarness({ busyTimeoutMs: 2000 });
    await harness.createSideTable();
  });
  afterEach(() => harness.close());

  it('puts the database file in WAL mode', async () => {
    await newTasks(harness);
    // WAL is recorded in the file: db switches at its next read, and so does any new connection.
    expect(attemptsIn(harness.pool)).toBe(0);
    expect(harness.pool.pragma('journal_mode', { simple: true })).toBe('wal');
    const other = new Database(harness.file);
    expect(other.pragma('journal_mode', { simple: true })).toBe('wal');
    other.close();
  });

  it("opens its connection with SQLite's 2 MB page cache, and leaves the pragmas of a connection you open alone", async () => {
    const cacheSizes: number[] = [];
    const target = shopTarget(async (_args, ctx) => {
      await ctx.transaction((tx) => {
        cacheSizes.push((tx as TestDatabase).pragma('cache_size', { simple: true }) as number);
        return Promise.resolve();
      });
    });
    const { tasks } = await newTasks(harness, target);
    await tasks.enqueue(harness.pool, target.order, { n: 1 });
    expect(await tasks.runDue()).toMatchObject({ succeeded: 1 });

    const ownDriver = betterSqlite3Driver(harness.pool, {
      openWorkerConnection: () => {
        const connection = new Database(harness.file);
        connection.pragma('cache_size = -8000');
        return connection;
      },
    });
    try {
      const own = new AsyncTask({ driver: ownDriver, table: harness.table, targets: [target] });
      await own.enqueue(harness.pool, target.order, { n: 2 });
      expect(await own.runDue()).toMatchObject({ succeeded: 1 });
    } finally {
      await ownDriver.close();
    }
    // better-sqlite3 opens every connection with 16 MB (-16000); db keeps it.
    expect(cacheSizes).toEqual([-2000, -8000]);
    expect(harness.pool.pragma('cache_size', { simple: true })).toBe(-16000);
  });

  it('runs ctx.transaction on its own connection: db neither sees it before commit nor waits for it', async () => {
    let reached!: () => void;
    const inside = new Promise<void>((resolve) => (reached = resolve));
    let proceed!: () => void;
    const resume = new Promise<void>((resolve) => (proceed = resolve));
    const target = shopTarget(async (args, ctx) => {
      await ctx.transaction(async (tx) => {
        await harness.insertSide(tx, `handled-${args.n}`);
        reached();
        await resume;
      });
    });
    const { tasks } = await newTasks(harness, target);
    await tasks.enqueue(harness.pool, target.order, { n: 1 });

    const pass = tasks.runDue();
    await inside;
    // The handler's write is not committed yet, and reading through db does not block.
    expect(await harness.sideKeys()).toEqual([]);
    proceed();

    expect(await pass).toMatchObject({ claimed: 1, succeeded: 1 });
    expect(await harness.sideKeys()).toEqual(['handled-1']);
  });

  it('lets code inside ctx.transaction read through the driver (no self-deadlock)', async () => {
    let seen: Attempt | null = null;
    const tasksRef: { current?: { get(id: string): Promise<Attempt | null> } } = {};
    const target = shopTarget(async (_args, ctx) => {
      await ctx.transaction(async () => {
        seen = (await tasksRef.current?.get(ctx.attempt.id)) ?? null;
      });
    });
    const { tasks } = await newTasks(harness, target);
    tasksRef.current = tasks;
    await tasks.enqueue(harness.pool, target.order, { n: 1 });

    expect(await tasks.runDue()).toMatchObject({ succeeded: 1 });
    expect(seen).toMatchObject({ status: 'running', numAttempts: 1 });
  });

  it('waits asynchronously for a write transaction held open on db, then proceeds', async () => {
    const { tasks, target } = await newTasks(harness);
    const db = harness.pool;
    db.exec('BEGIN IMMEDIATE');
    void tasks.enqueue(db, target.order, { n: 1 });
    let settled = false;
    const pass = tasks.runDue().finally(() => (settled = true));

    // The event loop keeps turning while the pass waits for the write lock.
    for (let turn = 0; turn < 20; turn += 1) await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    db.exec('COMMIT');

    expect(await pass).toMatchObject({ claimed: 1, succeeded: 1 });
  });

  it('gives up with a DatabaseError after busyTimeoutMs', async () => {
    const short = await sqliteHarness({ busyTimeoutMs: 30 });
    try {
      const { tasks } = await newTasks(short);
      short.pool.exec('BEGIN IMMEDIATE');
      const error = await caught(tasks.runDue());
      short.pool.exec('ROLLBACK');
      expect(error).toBeInstanceOf(DatabaseError);
      expect((error as Error).message).toContain('busyTimeoutMs (30 ms)');
    } finally {
      await short.close();
    }
  });

  it('refuses a schema-qualified table when the AsyncTask is built: SQLite has no schemas', () => {
    // It was refused at the first migrate, enqueue or worker start, and the CLI exited 1 (a
    // failure) rather than 2 (a usage error) for it.
    const target = shopTarget();
    const error = caughtSync(
      () =>
        new AsyncTask({
          driver: harness.sqliteDriver,
          table: 'shop.async_task_attempts',
          targets: [target],
        }),
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('SQLite has no schemas');
  });

  it('refuses what is not a usable better-sqlite3 Database', () => {
    expect(() => betterSqlite3Driver({} as unknown as TestDatabase)).toThrow(ConfigError);
    const closed = new Database(':memory:');
    closed.close();
    expect(() => betterSqlite3Driver(closed)).toThrow(/closed/);
  });
});

describe('sqlite dialect: rows', () => {
  let harness: SqliteHarness;
  beforeEach(async () => {
    harness = await sqliteHarness();
  });
  afterEach(() => harness.close());

  it('keeps ids beyond 2^53 exact: enqueue, get, run', async () => {
    const { tasks, target } = await newTasks(harness);
    await tasks.enqueue(harness.pool, target.order, { n: 0 });
    harness.pool.exec(
      "UPDATE sqlite_sequence SET seq = 9007199254740992 WHERE name = 'async_task_attempts'",
    );

    const attempt = await tasks.enqueue(harness.pool, target.order, { n: 1 });

    expect(attempt.id).toBe('9007199254740993');
    expect(await tasks.get('9007199254740993')).toMatchObject({ args: { n: 1 } });
    expect(await tasks.get('9007199254740992')).toBeNull();
    expect(await tasks.runDue()).toMatchObject({ claimed: 2, succeeded: 2 });
    expect(await tasks.get(attempt.id)).toMatchObject({ status: 'succeeded', numAttempts: 1 });
    expect((await tasks.list({ limit: 1 }))[0]?.id).toBe('9007199254740993');
  });

  it('counts attempts per status and queue, and prunes finished ones in batches', async () => {
    const { tasks, target } = await newTasks(harness);
    const [first] = await tasks.enqueueMany(harness.pool, [
      { method: target.order, args: { n: 1 } },
      { method: target.order, args: { n: 2 } },
      { method: target.order, args: { n: 3 }, options: { queue: 'bulk' } },
      {
        method: target.order,
        args: { n: 4 },
        options: { scheduledAt: new Date(Date.now() + 60_000) },
      },
    ]);
    await tasks.expire(first!.id);
    await tasks.runDue();

    expect(await tasks.stats()).toEqual([
      { status: 'succeeded', queue: 'bulk', count: 1, approximate: false },
      { status: 'pending', queue: 'default', count: 1, approximate: false },
      { status: 'succeeded', queue: 'default', count: 1, approximate: false },
      { status: 'expired', queue: 'default', count: 1, approximate: false },
    ]);
    expect(await tasks.prune({ olderThan: new Date(Date.now() + 1000), batchSize: 2 })).toBe(3);
    expect(await tasks.stats()).toEqual([
      { status: 'pending', queue: 'default', count: 1, approximate: false },
    ]);
  });

  it('matches idempotence results the same way on a client without querySync', async () => {
    await newTasks(harness);
    const sync = harness.sqliteDriver.connection(harness.pool);
    const asyncOnly: SqlConnection = {
      query: (statement, params) => sync.query(statement, params),
      transaction: (fn, options) => sync.transaction(fn, options),
    };
    const executor = sqliteDialect.executor(asyncOnly, { schema: null, name: harness.table });
    const row = (idempotenceToken: string | null, n: number) => ({
      target: 'Shop',
      methodName: 'order',
      methodArgs: JSON.stringify({ n }),
      encryptor: null,
      maxAttempts: 3,
      queue: 'default',
      priority: 0,
      idempotenceToken,
      scheduledAt: null,
    });

    const [existing] = await executor.attemptInsertMany([row('a', 1)]);
    const results = await executor.attemptInsertMany([
      row('b', 2),
      row('a', 3),
      row(null, 4),
      row('b', 5),
      row(null, 6),
    ]);

    expect(results.map((r) => [r.record.methodArgs, r.inserted])).toEqual([
      ['{"n":2}', true],
      ['{"n":1}', false],
      ['{"n":4}', true],
      ['{"n":2}', false],
      ['{"n":6}', true],
    ]);
    expect(results[1]?.record.id).toBe(existing?.record.id);
    expect(results[3]?.record.id).toBe(results[0]?.record.id);
    expect(await harness.countAttempts()).toBe(4);
  });
});

describe('sqlite/better-sqlite3: migrate', () => {
  let harness: SqliteHarness;
  beforeEach(async () => {
    harness = await sqliteHarness();
  });
  afterEach(() => harness.close());

  it('serialises migrate() across connections with BEGIN IMMEDIATE: each migration applied once', async () => {
    const connections = [1, 2, 3, 4].map(() => new Database(harness.file));
    const drivers = connections.map((db) => betterSqlite3Driver(db));
    try {
      const results = await Promise.all(
        drivers.map((driver) => new AsyncTask({ driver, targets: [] }).migrate()),
      );
      expect(results.flatMap((result) => result.applied).sort()).toEqual(
        Array.from({ length: sqliteDialect.latestVersion }, (_, i) => i + 1),
      );
      // The version lives with the table (the text of a trigger that never fires).
      const rows = harness.pool
        .prepare(`SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = ?`)
        .all('async_task_attempts') as { sql: string }[];
      expect(rows).toHaveLength(1);
      expect(rows[0]!.sql).toContain(`SELECT 'async-task schema ${sqliteDialect.latestVersion}'`);
    } finally {
      for (const driver of drivers) await driver.close();
      for (const db of connections) db.close();
    }
  });

  it('refuses a schema carrying a breaking migration from a newer async-task', async () => {
    const { tasks } = await newTasks(harness);
    // What a newer async-task whose migration 99 is breaking would leave as the version.
    harness.pool.exec(`DROP TRIGGER "async_task_attempts_schema_version"`);
    harness.pool.exec(
      `CREATE TRIGGER "async_task_attempts_schema_version" BEFORE UPDATE OF id ON async_task_attempts
       BEGIN SELECT 'async-task schema 99, breaking 99'; END`,
    );
    const fresh = new AsyncTask({ driver: harness.sqliteDriver, targets: [shopTarget()] });

    expect(await caught(tasks.migrate())).toBeInstanceOf(SchemaOutdatedError);
    const error = await caught(fresh.runDue());
    expect(error).toBeInstanceOf(SchemaOutdatedError);
    expect((error as Error).message).toContain('upgrade async-task');
  });
});

describe('sqlite/better-sqlite3: a worker', () => {
  let harness: SqliteHarness;
  beforeEach(async () => {
    harness = await sqliteHarness();
    await harness.createSideTable();
  });
  afterEach(() => harness.close());

  it('polls (no LISTEN) and performs tasks whose ctx.transaction writes interleave', async () => {
    const target = shopTarget(async (args, ctx) => {
      if (args.n % 2 === 0) {
        await ctx.transaction(async (tx) => {
          await harness.insertSide(tx, `n${args.n}`);
          await Promise.resolve();
        });
      }
    });
    const { tasks } = await newTasks(harness, target);
    expect('listen' in harness.sqliteDriver).toBe(false);
    const total = 200;
    await tasks.enqueueMany(
      harness.pool,
      Array.from({ length: total }, (_, n) => ({ method: target.order, args: { n } })),
    );
    const worker = tasks.worker({ concurrency: 20, pollIntervalMs: 10 });
    let succeeded = 0;
    const allDone = new Promise<void>((resolve) => {
      worker.on('succeeded', () => {
        if (++succeeded === total) resolve();
      });
    });

    await worker.start();
    await allDone;
    await worker.stop();

    expect(await tasks.list({ status: 'succeeded', limit: 1000 })).toHaveLength(total);
    expect(await harness.sideKeys()).toHaveLength(total / 2);
  });
});

describe('sqlite/better-sqlite3: an in-memory database', () => {
  it('shares db with the worker side: migrate, enqueue in db.transaction, ctx.transaction', async () => {
    const db = new Database(':memory:');
    const driver = betterSqlite3Driver(db);
    const target = defineTarget('Shop', {
      order: async (args: { n: number }, ctx: TaskContext) => {
        await ctx.transaction((tx) => {
          (tx as TestDatabase)
            .prepare('INSERT INTO side_effects (key) VALUES (?)')
            .run(`n${args.n}`);
          return Promise.resolve();
        });
      },
    });
    const tasks = new AsyncTask({ driver, targets: [target] });
    await tasks.migrate();
    db.exec('CREATE TABLE side_effects (key TEXT PRIMARY KEY)');
    let pending: Promise<Attempt> | undefined;
    db.transaction(() => {
      pending = tasks.enqueue(db, target.order, { n: 1 });
    })();
    const attempt = await pending!;

    expect(await tasks.runDue()).toMatchObject({ claimed: 1, succeeded: 1 });
    expect(await tasks.get(attempt.id)).toMatchObject({ status: 'succeeded' });
    expect(db.prepare('SELECT key FROM side_effects').all()).toEqual([{ key: 'n1' }]);

    await driver.close();
    expect(db.open).toBe(true);
    db.close();
  });
});

// A child process claiming with the dialect directly, in small batches, as fast as it can: the
// tightest race two claimers can run. Prints `ready`, waits for `go`, prints its ids as JSON.
const claimChild = `
import { createInterface } from 'node:readline';
const { driverFromEnv } = await import(${JSON.stringify(new URL('../harness/child-driver.ts', import.meta.url).href)});
const { sqliteDialect } = await import(${JSON.stringify(new URL('../../src/dialects/sqlite/index.ts', import.meta.url).href)});
const { driver, table, close } = await driverFromEnv();
const name = { schema: null, name: table };
const lockedBy = 'child-' + process.pid;
await driver.run((connection) => sqliteDialect.schemaState(connection, name));
process.stdout.write('ready\\n');
const lines = createInterface({ input: process.stdin });
await new Promise((resolve) => lines.on('line', (line) => line === 'go' && resolve()));
lines.close();
const ids = [];
for (;;) {
  const { records } = await driver.run((connection) =>
    sqliteDialect.executor(connection, name).attemptClaim({
      lockedBy, limit: 7, leaseMs: 600000, queues: null, horizon: null, durable: false,
    }),
  );
  if (records.length === 0) break;
  ids.push(...records.map((record) => record.id));
}
process.stdout.write(JSON.stringify({ lockedBy, ids }) + '\\n');
await close();
`;

function startClaimer(env: Record<string, string>) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '--eval', claimChild],
    {
      cwd: fileURLToPath(new URL('../../', import.meta.url)),
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let report: { lockedBy: string; ids: string[] } | undefined;
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  const ready = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line === 'ready') resolve();
      else report = JSON.parse(line) as { lockedBy: string; ids: string[] };
    });
    void exited.then(() => reject(new Error(`claimer exited before it was ready: ${stderr}`)));
  });
  const finished = exited.then((code) => {
    if (code !== 0 || !report) throw new Error(`claimer exited with ${code}: ${stderr}`);
    return report;
  });
  return { ready, finished, go: () => child.stdin.end('go\n') };
}

describe('sqlite/better-sqlite3: processes claiming at once', () => {
  let harness: SqliteHarness;
  beforeEach(async () => {
    harness = await sqliteHarness();
  });
  afterEach(() => harness.close());

  it('three processes claiming 1500 due rows never claim one twice', async () => {
    const { tasks, target } = await newTasks(harness);
    const total = 1500;
    const enqueued = await tasks.enqueueMany(
      harness.pool,
      Array.from({ length: total }, (_, n) => ({ method: target.order, args: { n } })),
    );

    const claimers = [1, 2, 3].map(() => startClaimer(harness.childEnv()));
    await Promise.all(claimers.map((claimer) => claimer.ready));
    for (const claimer of claimers) claimer.go();
    const reports = await Promise.all(claimers.map((claimer) => claimer.finished));

    const all = reports.flatMap((report) => report.ids);
    expect(all).toHaveLength(total);
    expect(new Set(all).size).toBe(total);
    expect([...all].sort()).toEqual(enqueued.map((attempt) => attempt.id).sort());
    expect(reports.filter((report) => report.ids.length > 0).length).toBeGreaterThan(1);
    // Every row is leased once, to the process that reported it.
    const owner = new Map(reports.flatMap((r) => r.ids.map((id) => [id, r.lockedBy] as const)));
    const rows = harness.pool
      .prepare(
        'SELECT CAST(id AS TEXT) AS id, status, num_attempts, locked_by FROM async_task_attempts',
      )
      .all() as { id: string; status: string; num_attempts: number; locked_by: string }[];
    for (const row of rows) {
      expect(row).toMatchObject({
        status: 'running',
        num_attempts: 1,
        locked_by: owner.get(row.id),
      });
    }
  });
});
