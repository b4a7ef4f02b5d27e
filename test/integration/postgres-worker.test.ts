// What only PostgreSQL has: the worker survives its connections being terminated (LISTEN
// included) and a server restart, and LISTEN/NOTIFY wakes it within a moment, with at most one
// notification per transaction and queue.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseTableName } from '../../src/core/table-name.js';
import { postgresDialect } from '../../src/dialects/postgres/index.js';
import { pgDriver, type PgPoolClient, type PgQueryable } from '../../src/drivers/pg.js';
import {
  AsyncTask,
  DatabaseError,
  defineTarget,
  type TaskContext,
  type Worker,
} from '../../src/index.js';
import { postgresHarness, postgresUrl } from '../harness/postgres.js';
import { waitFor } from '../harness/wait-for.js';
import { within } from '../harness/worker-process.js';

type PostgresHarness = Awaited<ReturnType<typeof postgresHarness>>;

/**
 * A target that writes its key to `side_effects` in `schema` through ctx.transaction, yielding
 * inside the transaction so that connections are often idle in a transaction (the moment a
 * terminated backend is hardest on a client). Retries are due at once.
 */
function sideTarget(schema: string, onRun: (id: string, numAttempts: number) => void) {
  return defineTarget(
    'Side',
    {
      async write(args: { key: string }, ctx: TaskContext) {
        onRun(ctx.attempt.id, ctx.attempt.numAttempts);
        await ctx.transaction(async (tx) => {
          await (tx as pg.PoolClient).query(
            `INSERT INTO "${schema}".side_effects (key) VALUES ($1)`,
            [args.key],
          );
          await delay(1);
        });
      },
    },
    { backoff: () => 0 },
  );
}

/** A pool of the worker's own, named so that only its backends are ever terminated. */
function namedPool(connectionString: string): {
  pool: pg.Pool;
  name: string;
  errors: Error[];
} {
  const name = `at-worker-${randomBytes(6).toString('hex')}`;
  const pool = new pg.Pool({ connectionString, application_name: name, max: 10 });
  const errors: Error[] = [];
  // node-postgres emits 'error' on the pool when an idle client's connection dies.
  pool.on('error', (error) => errors.push(error));
  return { pool, name, errors };
}

async function enqueueKeys(
  tasks: AsyncTask<PgQueryable, PgPoolClient>,
  pool: pg.Pool,
  target: ReturnType<typeof sideTarget>,
  keys: readonly string[],
): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await tasks.enqueueMany(
      client,
      keys.map((key) => ({ method: target.write, args: { key } })),
    );
    await client.query('COMMIT');
  } finally {
    client.release();
  }
}

async function countWhere(pool: pg.Pool, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`, params);
  return rows[0]?.n ?? 0;
}

describe('postgres/pg worker: terminated connections', () => {
  let harness: PostgresHarness;
  let worker: Worker | undefined;
  let named: ReturnType<typeof namedPool>;
  beforeAll(async () => {
    harness = await postgresHarness();
    await harness.createSideTable();
    named = namedPool(postgresUrl);
  });
  afterAll(async () => {
    await worker?.stop({ timeoutMs: 1000 });
    await named.pool.end();
    await harness.close();
  });

  /**
   * Terminates every backend of the worker's pool, and no other: the backends are picked by
   * name first, then terminated by pid (in one statement, PostgreSQL may evaluate
   * pg_terminate_backend before the name test, on every backend of the server). Returns what
   * each was last running.
   */
  async function terminateWorkerBackends(): Promise<string[]> {
    const { rows } = await harness.pool.query<{ pid: number; query: string }>(
      `SELECT pid, query FROM pg_stat_activity
       WHERE application_name = $1 AND pid <> pg_backend_pid()`,
      [named.name],
    );
    for (const { pid } of rows) {
      await harness.pool.query('SELECT pg_terminate_backend($1::int)', [pid]);
    }
    return rows.map((row) => row.query);
  }

  const listening = async (): Promise<boolean> =>
    (await countWhere(
      harness.pool,
      `pg_stat_activity WHERE application_name = $1 AND state = 'idle' AND query LIKE 'LISTEN %'`,
      [named.name],
    )) === 1;

  it('reconnects after pg_terminate_backend (LISTEN included), loses nothing, and LISTEN wakes it again', async () => {
    const runs: string[] = [];
    const target = sideTarget(harness.schema, (id) => runs.push(id));
    const enqueuer = new AsyncTask({
      driver: pgDriver(harness.pool),
      table: harness.table,
      targets: [target],
    });
    await enqueuer.migrate();
    const tasks = new AsyncTask({
      driver: pgDriver(named.pool),
      table: harness.table,
      targets: [target],
    });
    // A 60 s poll: anything picked up within the test was found through LISTEN or a wake-up.
    worker = tasks.worker({
      concurrency: 8,
      pollIntervalMs: 60_000,
      leaseMs: 2000,
      heartbeatMs: 500,
      rescueIntervalMs: 500,
    });
    const errors: string[] = [];
    const listenErrors: unknown[] = [];
    worker.on('error', ({ during, error }) => {
      errors.push(during);
      if (during === 'listen') listenErrors.push(error);
    });
    await worker.start();
    expect(await listening()).toBe(true);

    const count = 1500;
    await enqueueKeys(
      enqueuer,
      harness.pool,
      target,
      Array.from({ length: count }, (_, n) => `k${n}`),
    );
    const terminated: string[][] = [];
    for (const after of [300, 800]) {
      await waitFor(`${after} runs`, () => runs.length >= after, 30_000);
      terminated.push(await terminateWorkerBackends());
    }
    expect(terminated[0]!.some((query) => query.startsWith('LISTEN '))).toBe(true);
    expect(terminated.every((queries) => queries.length > 0)).toBe(true);

    // Every task has run at least once and nothing is in flight: what is left are retries (due
    // at once) whose outcome was written after the worker's last claim; the probe wakes it.
    await waitFor(
      'every task to have run, and none to be running',
      async () =>
        new Set(runs).size === count &&
        (await countWhere(harness.pool, `${harness.table} WHERE status = 'running'`)) === 0,
      30_000,
    );
    // LISTEN comes back by itself; then a new task is picked up at once, not at the next poll.
    await waitFor('LISTEN to be back', listening, 10_000);
    const probeEnqueued = Date.now();
    await enqueueKeys(enqueuer, harness.pool, target, ['probe']);
    await waitFor(
      'the probe to run',
      async () =>
        (await countWhere(harness.pool, `"${harness.schema}".side_effects WHERE key = 'probe'`)) ===
        1,
      5000,
    );
    expect(Date.now() - probeEnqueued).toBeLessThan(5000);
    await waitFor(
      'every task to succeed',
      async () =>
        (await countWhere(harness.pool, `${harness.table} WHERE status = 'succeeded'`)) ===
        count + 1,
      30_000,
    );

    expect(await countWhere(harness.pool, `"${harness.schema}".side_effects`)).toBe(count + 1);
    expect(errors.length + named.errors.length, 'the outage was noticed').toBeGreaterThan(0);
    // The LISTEN connection's error is a DatabaseError too, as every other `during`'s (it was
    // pg's own error).
    expect(listenErrors.length).toBeGreaterThan(0);
    for (const error of listenErrors) {
      expect(error).toBeInstanceOf(DatabaseError);
      expect(error).toMatchObject({
        code: 'DATABASE',
        message: expect.stringMatching(/LISTEN/) as unknown,
      });
    }
    await worker.stop();
    worker = undefined;
  });
});

describe('postgres/pg worker: LISTEN/NOTIFY', () => {
  let harness: PostgresHarness;
  let worker: Worker | undefined;
  let listener: pg.Client | undefined;
  beforeAll(async () => {
    harness = await postgresHarness();
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await listener?.end();
    listener = undefined;
  });
  afterAll(async () => {
    await harness.close();
  });

  it('picks up a task committed in a transaction within about 100 ms, with a 60 s poll interval', async () => {
    const started = new Map<string, number>();
    const target = defineTarget('Probe', {
      run(_args: { n: number }, ctx: TaskContext) {
        started.set(ctx.attempt.id, performance.now());
      },
    });
    const enqueuer = new AsyncTask({
      driver: pgDriver(harness.pool),
      table: harness.table,
      targets: [target],
    });
    await enqueuer.migrate();
    const tasks = new AsyncTask({
      driver: pgDriver(harness.pool),
      table: harness.table,
      targets: [target],
    });
    worker = tasks.worker({ pollIntervalMs: 60_000 });
    await worker.start();

    const latencies: number[] = [];
    for (let n = 0; n < 6; n += 1) {
      const client = await harness.pool.connect();
      let id: string;
      let committed: number;
      try {
        await client.query('BEGIN');
        ({ id } = await enqueuer.enqueue(client, target.run, { n }));
        await client.query('COMMIT');
        committed = performance.now();
      } finally {
        client.release();
      }
      await waitFor('the task to start', () => started.has(id), 5000);
      latencies.push(started.get(id)! - committed);
    }
    // The first one warms up the worker's connections and prepared statements.
    const measured = latencies.slice(1).sort((a, b) => a - b);
    const median = measured[Math.floor(measured.length / 2)]!;
    console.info(`LISTEN pickup latencies: ${latencies.map((ms) => ms.toFixed(1)).join(', ')} ms`);
    expect(median, `latencies ${latencies.map((ms) => ms.toFixed(1)).join(', ')} ms`).toBeLessThan(
      100,
    );
    expect(Math.max(...latencies)).toBeLessThan(1000);
  });

  it('sends at most one notification per transaction and queue', async () => {
    const target = defineTarget('Noisy', { run(_args: { n: number }) {} });
    const tasks = new AsyncTask({
      driver: pgDriver(harness.pool),
      table: harness.table,
      targets: [target],
    });
    await tasks.migrate();
    const channel = postgresDialect.notifyChannel(parseTableName(harness.table))!;
    listener = new pg.Client({ connectionString: postgresUrl });
    await listener.connect();
    const payloads: string[] = [];
    listener.on('notification', (message) => payloads.push(message.payload ?? ''));
    await listener.query(`LISTEN "${channel}"`);

    /** Notifications that arrived for what was committed so far: a marker sent after it closes them. */
    const settle = async (): Promise<string[]> => {
      const marker = `marker-${randomBytes(4).toString('hex')}`;
      await harness.pool.query('SELECT pg_notify($1, $2)', [channel, marker]);
      await waitFor('the marker notification', () => payloads.includes(marker));
      return payloads.splice(0).filter((payload) => payload !== marker);
    };
    const inTransaction = async (fn: (client: pg.PoolClient) => Promise<unknown>) => {
      const client = await harness.pool.connect();
      try {
        await client.query('BEGIN');
        await fn(client);
        await client.query('COMMIT');
      } finally {
        client.release();
      }
    };

    // 100 separate enqueues in one transaction, in two queues.
    await inTransaction(async (client) => {
      for (let n = 0; n < 100; n += 1) {
        await tasks.enqueue(client, target.run, { n }, { queue: n % 2 === 0 ? 'a' : 'b' });
      }
    });
    expect((await settle()).sort()).toEqual(['a', 'b']);

    // One statement of 100 rows in two queues.
    await inTransaction((client) =>
      tasks.enqueueMany(
        client,
        Array.from({ length: 100 }, (_, n) => ({
          method: target.run,
          args: { n },
          options: { queue: n % 2 === 0 ? 'c' : 'd' },
        })),
      ),
    );
    expect((await settle()).sort()).toEqual(['c', 'd']);

    // Scheduled for later: nothing to wake anyone for. Rolled back: nothing at all.
    await inTransaction((client) =>
      tasks.enqueue(client, target.run, { n: 1 }, { scheduledAt: new Date(Date.now() + 60_000) }),
    );
    await inTransaction(async (client) => {
      await tasks.enqueue(client, target.run, { n: 2 }, { queue: 'e' });
      await client.query('ROLLBACK');
      await client.query('BEGIN');
    });
    expect(await settle()).toEqual([]);
  });
});

const execFileAsync = promisify(execFile);
const pgBin = '/usr/lib/postgresql/15/bin';

/** Runs a PostgreSQL binary as the postgres OS user (initdb and postgres refuse to run as root). */
async function asPostgres(binary: string, args: string[]): Promise<void> {
  await execFileAsync('runuser', ['-u', 'postgres', '--', join(pgBin, binary), ...args], {
    timeout: 60_000,
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

describe('postgres/pg worker: server restart (a private throwaway cluster)', () => {
  let folder: string;
  let data: string;
  let url: string;
  let named: ReturnType<typeof namedPool> | undefined;
  let worker: Worker | undefined;
  const pgCtl = (...args: string[]) =>
    asPostgres('pg_ctl', ['-D', data, '-l', join(folder, 'server.log'), '-w', ...args]);

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), 'async-task-pg-'));
    chownSync(folder, ...(await postgresIds()));
    data = join(folder, 'data');
    await asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
    const port = await freePort();
    await pgCtl(
      '-o',
      `-p ${port} -k ${folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=40`,
      'start',
    );
    url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  }, 120_000);

  afterAll(async () => {
    await worker?.stop({ timeoutMs: 1000 }).catch(() => undefined);
    await named?.pool.end().catch(() => undefined);
    if (data) await pgCtl('-m', 'immediate', 'stop').catch(() => undefined);
    if (folder) rmSync(folder, { recursive: true, force: true });
  }, 60_000);

  it('carries on after pg_ctl restart -m fast mid-run: every task ends succeeded', async () => {
    named = namedPool(url);
    const admin = named.pool;
    await admin.query('CREATE TABLE side_effects (key text PRIMARY KEY)');
    let runs = 0;
    const target = sideTarget('public', () => (runs += 1));
    const tasks = new AsyncTask({ driver: pgDriver(admin), targets: [target] });
    await tasks.migrate();
    worker = tasks.worker({
      concurrency: 8,
      pollIntervalMs: 200,
      leaseMs: 2000,
      heartbeatMs: 500,
      rescueIntervalMs: 500,
    });
    const errors: string[] = [];
    worker.on('error', ({ during }) => errors.push(during));
    await worker.start();
    const count = 1000;
    await enqueueKeys(
      tasks,
      admin,
      target,
      Array.from({ length: count }, (_, n) => `k${n}`),
    );

    await waitFor('200 runs', () => runs >= 200, 30_000);
    const restarting = Date.now();
    await pgCtl('-m', 'fast', 'restart');
    const restartMs = Date.now() - restarting;

    await waitFor(
      'every task to succeed after the restart',
      async () =>
        (await countWhere(admin, `async_task_attempts WHERE status = 'succeeded'`).catch(
          () => -1,
        )) === count,
      40_000,
    );
    expect(await countWhere(admin, 'side_effects')).toBe(count);
    expect(errors.length + named.errors.length, 'the restart was noticed').toBeGreaterThan(0);
    await within(worker.stop(), 10_000, 'the worker to stop');
    worker = undefined;
    console.info(
      `server restart took ${restartMs} ms; worker errors during: ${[...new Set(errors)].join(', ')}`,
    );
  });
});

/** uid and gid of the postgres OS user. */
async function postgresIds(): Promise<[number, number]> {
  const { stdout } = await execFileAsync('id', ['-u', 'postgres']);
  const { stdout: group } = await execFileAsync('id', ['-g', 'postgres']);
  return [Number(stdout.trim()), Number(group.trim())];
}
