// The systems the benchmark compares: async-task (from dist/, as users run it) on PostgreSQL with
// its defaults and with the settings the README recommends, on MySQL/MariaDB and SQLite with its
// defaults, and the baseline, graphile-worker 0.18 tuned. Each exposes the same operations so
// run.mjs and drain.mjs can time them alike.
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';

/** The library's entry points from a built checkout (`dist/` under `root`). */
async function library(root) {
  const [main, driver] = await Promise.all([
    import(new URL('dist/index.js', root).href),
    import(new URL('dist/drivers/pg.js', root).href),
  ]);
  return {
    AsyncTask: main.AsyncTask,
    defineTarget: main.defineTarget,
    pgDriver: driver.pgDriver,
    // Loaded when a MySQL or SQLite system runs: their clients are optional here.
    mysql2Driver: async () =>
      (await import(new URL('dist/drivers/mysql2.js', root).href)).mysql2Driver,
    betterSqlite3Driver: async () =>
      (await import(new URL('dist/drivers/better-sqlite3.js', root).href)).betterSqlite3Driver,
  };
}
const current = await library(new URL('../', import.meta.url));
// ASYNC_TASK_BASELINE=<another checkout, built>: the `…-baseline` systems run that build, so a
// change is measured against the code before it in the same run.
const baselineRoot = process.env.ASYNC_TASK_BASELINE;
const baseline = baselineRoot
  ? await library(pathToFileURL(`${baselineRoot.replace(/\/$/, '')}/`))
  : undefined;
const libraryOf = (name) => {
  if (!name.endsWith('-baseline')) return current;
  if (!baseline) throw new Error(`${name} needs ASYNC_TASK_BASELINE=<a built checkout>`);
  return baseline;
};
const { defineTarget } = current;

export const databaseUrl =
  process.env.ASYNC_TASK_BENCH_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const mysqlUrl =
  process.env.ASYNC_TASK_BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

/** Worker options per system; `{}` is the library's defaults. */
export const workerSettings = {
  'async-task': {},
  // What the README recommends for a high-volume queue of short handlers.
  'async-task-tuned': { concurrency: 100 },
  'async-task-baseline': {},
  'async-task-tuned-baseline': { concurrency: 100 },
  // Behind PgBouncer in transaction mode (README "PgBouncer"): no LISTEN, the worker polls.
  'async-task-pollonly': { pollOnly: true },
  'async-task-pollonly-baseline': { pollOnly: true },
  'async-task-mysql': {},
  'async-task-sqlite': {},
  'async-task-mysql-baseline': {},
  'async-task-sqlite-baseline': {},
  // Flow control (README "Flow control"), one worker with the recommended setting: see `flows`.
  'async-task-flow-unlimited': { concurrency: 100 },
  'async-task-flow-limited': { concurrency: 100 },
  'async-task-flow-keyed': { concurrency: 100 },
  'async-task-flow-fewkeys': { concurrency: 100 },
  'async-task-flow-clustered': { concurrency: 100 },
  'async-task-mysql-flow-clustered': { concurrency: 100 },
  'async-task-sqlite-flow-clustered': { concurrency: 100 },
  'async-task-flow-rate': { concurrency: 100 },
  'async-task-flow-fair': { concurrency: 100 },
  'async-task-mysql-flow-unlimited': { concurrency: 100 },
  'async-task-mysql-flow-limited': { concurrency: 100 },
  'async-task-mysql-flow-keyed': { concurrency: 100 },
  'async-task-mysql-flow-fewkeys': { concurrency: 100 },
  'async-task-mysql-flow-fair': { concurrency: 100 },
  'async-task-sqlite-flow-unlimited': { concurrency: 100 },
  'async-task-sqlite-flow-limited': { concurrency: 100 },
  'async-task-sqlite-flow-keyed': { concurrency: 100 },
  'async-task-sqlite-flow-fewkeys': { concurrency: 100 },
  'async-task-sqlite-flow-fair': { concurrency: 100 },
  'graphile-worker': {
    concurrentJobs: 100,
    localQueue: { size: 1000 },
    completeJobBatchDelay: 0,
    failJobBatchDelay: 0,
    pollInterval: 1000,
  },
};

// Each flow system's `-baseline` twin runs the same flow on the baseline build.
for (const name of Object.keys(workerSettings)) {
  if (/^async-task(-mysql|-sqlite)?-flow-/.test(name))
    workerSettings[`${name}-baseline`] = workerSettings[name];
}

/**
 * What the flow systems drain, beside four queues with limits that hold nothing (so every
 * worker runs the limited claims as a deployment with limits does): `unlimited`, a backlog in a
 * queue without limits, to compare with async-task-tuned in the same run (a queue without limits
 * must not get slower); `limited`, a backlog in a queue with `concurrency: 100`; `keyed`, one
 * whose attempts carry one of 1,000 concurrency keys, one running per key; `fewkeys`, 10 keys, one
 * running per key (every key busy most of the time, the worker's other slots free); `clustered`,
 * one running per key, 200 attempts per key in enqueue order (a first look sees a few keys, so
 * every claim looks by key); `rate`, a rate limit that never binds (the cost of recording
 * starts); `fair`, 100 keys claimed round-robin.
 */
const idleLimited = {
  idle1: { concurrency: 10 },
  idle2: { keyConcurrency: 2 },
  idle3: { rateLimit: { limit: 100, periodMs: 1000 } },
  idle4: { concurrency: 5, fairness: 'key' },
};
const flows = {
  unlimited: { queues: idleLimited, options: () => undefined },
  limited: {
    queues: { ...idleLimited, bench: { concurrency: 100 } },
    options: () => ({ queue: 'bench' }),
  },
  keyed: {
    queues: { ...idleLimited, bench: { keyConcurrency: 1 } },
    options: (i) => ({ queue: 'bench', concurrencyKey: `k${i % 1000}` }),
  },
  fewkeys: {
    queues: { ...idleLimited, bench: { keyConcurrency: 1 } },
    options: (i) => ({ queue: 'bench', concurrencyKey: `k${i % 10}` }),
  },
  clustered: {
    queues: { ...idleLimited, bench: { keyConcurrency: 1 } },
    options: (i) => ({ queue: 'bench', concurrencyKey: `k${Math.floor(i / 200)}` }),
  },
  rate: {
    queues: { ...idleLimited, bench: { rateLimit: { limit: 1_000_000, periodMs: 1000 } } },
    options: () => ({ queue: 'bench' }),
  },
  fair: {
    queues: { ...idleLimited, bench: { fairness: 'key', keyConcurrency: 100 } },
    options: (i) => ({ queue: 'bench', concurrencyKey: `k${i % 100}` }),
  },
};
const flowOf = (name) => flows[/-flow-(\w+?)(-baseline)?$/.exec(name)?.[1]];

/** An enqueueMany item of task i, with the flow system's enqueue options. */
function itemOf(name, Bench) {
  const flow = flowOf(name);
  return (i) => {
    const options = flow?.options(i);
    return options
      ? { method: Bench.noop, args: payload(i), options }
      : { method: Bench.noop, args: payload(i) };
  };
}

export const systemNames = Object.keys(workerSettings);

/**
 * Characters of padding in every payload: ASYNC_TASK_BENCH_PAYLOAD=100000 measures large
 * arguments (the drain child inherits the setting).
 */
export const paddingChars = Number(process.env.ASYNC_TASK_BENCH_PAYLOAD ?? 0);
const padding = 'p'.repeat(paddingChars);
let stamped = false;
/**
 * From now on every payload also carries `t`, the time it was built (epoch ms), and the handler
 * passes its payload to `onRun`: bench/stream.mjs times each task from enqueue to start.
 */
export function stampPayloads() {
  stamped = true;
}
/** The payload of task i, built in JavaScript for every system. */
const payload = (i) => {
  const built = paddingChars === 0 ? { i } : { i, padding };
  if (stamped) built.t = Date.now();
  return built;
};
/** Tasks per loading transaction: fewer for large payloads (MySQL's packets stop at 16 MB). */
const loadBatch = Math.max(1, Math.min(1000, Math.floor(4_000_000 / (paddingChars + 20))));

function benchTarget(onRun, define = defineTarget) {
  return define('Bench', {
    async noop(args) {
      onRun(args);
    },
  });
}

/** async-task on PostgreSQL: a table in its own schema. */
function asyncTaskPg(name, schema, onRun) {
  const lib = libraryOf(name);
  const Bench = benchTarget(onRun, lib.defineTarget);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
  const table = `${schema}.attempts`;
  const flow = flowOf(name);
  const tasks = new lib.AsyncTask({
    driver: lib.pgDriver(pool),
    targets: [Bench],
    table,
    ...(flow && { queues: flow.queues }),
  });
  const item = itemOf(name, Bench);
  let worker;
  return {
    name,
    dialect: 'postgres',
    pool,
    tasks,
    async setup() {
      await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await tasks.migrate();
    },
    async enqueueInTransaction(client, i) {
      await tasks.enqueue(client, Bench.noop, payload(i));
    },
    async enqueueBulk(client, from, count) {
      await tasks.enqueueMany(
        client,
        Array.from({ length: count }, (_, j) => item(from + j)),
      );
    },
    /** Tasks from..from+n-1, in a transaction of their own. */
    enqueueBatch(from, n) {
      return pgTransaction(pool, (client) => this.enqueueBulk(client, from, n));
    },
    load(count) {
      return loadInBatches(this, count);
    },
    async pending() {
      const { rows } = await pool.query(
        `SELECT count(*)::int AS n FROM ${table} WHERE status = 'pending'`,
      );
      return rows[0].n;
    },
    /** Finished rows, as a table that kept months of them would hold: older ids, succeeded. */
    async loadFinished(count) {
      for (let from = 0; from < count; from += 500_000) {
        const n = Math.min(500_000, count - from);
        await pool.query(
          `INSERT INTO ${table} (target, method_name, method_args, status, num_attempts,
             completed_at, scheduled_at, created_at, updated_at)
           SELECT 'Bench', 'noop', json_build_object('i', g)::text, 'succeeded', 1,
             now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour', now()
           FROM generate_series(1, $1) g`,
          [n],
        );
      }
      await pool.query(`VACUUM ANALYZE ${table}`);
    },
    async busy(client) {
      const { rows } = await client.query(
        `SELECT EXISTS (SELECT 1 FROM ${table} WHERE status = 'pending')
             OR EXISTS (SELECT 1 FROM ${table} WHERE locked_until IS NOT NULL AND status = 'running')
             AS busy`,
      );
      return rows[0].busy;
    },
    async startWorker() {
      worker = tasks.worker(workerSettings[name]);
      await worker.start();
      return () => worker.stop();
    },
    unwritten: () => worker?.unwrittenOutcomes ?? 0,
    async teardown() {
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await pool.end();
    },
  };
}

/** `work(client)` in a transaction on a connection of `pool`. */
async function pgTransaction(pool, work) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await work(client);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
}

/** A backlog of `count` tasks, `loadBatch` per transaction (the system's enqueueBatch). */
async function loadInBatches(system, count) {
  for (let from = 0; from < count; from += loadBatch) {
    await system.enqueueBatch(from, Math.min(loadBatch, count - from));
  }
}

/** async-task on MySQL/MariaDB: a table of its own in the test database. */
async function asyncTaskMysql(name, schema, onRun) {
  const { default: mysql } = await import('mysql2/promise');
  const lib = libraryOf(name);
  const mysql2Driver = await lib.mysql2Driver();
  const Bench = benchTarget(onRun, lib.defineTarget);
  const pool = mysql.createPool({ uri: mysqlUrl, connectionLimit: 10 });
  const table = `${schema}_attempts`;
  const flow = flowOf(name);
  const tasks = new lib.AsyncTask({
    driver: mysql2Driver(pool),
    targets: [Bench],
    table,
    ...(flow && { queues: flow.queues }),
  });
  const item = itemOf(name, Bench);
  let worker;
  return {
    name,
    dialect: 'mysql',
    tasks,
    async setup() {
      await tasks.migrate();
    },
    /** Tasks from..from+n-1, in a transaction of their own. */
    async enqueueBatch(from, n) {
      const connection = await pool.getConnection();
      try {
        await connection.beginTransaction();
        await tasks.enqueueMany(
          connection,
          Array.from({ length: n }, (_, j) => item(from + j)),
        );
        await connection.commit();
      } finally {
        connection.release();
      }
    },
    load(count) {
      return loadInBatches(this, count);
    },
    async pending() {
      const [rows] = await pool.query(
        `SELECT count(*) AS n FROM \`${table}\` WHERE status = 'pending'`,
      );
      return Number(rows[0].n);
    },
    async busy() {
      const [rows] = await pool.query(
        `SELECT EXISTS (SELECT 1 FROM \`${table}\` WHERE status IN ('pending', 'running')) AS busy`,
      );
      return Number(rows[0].busy) === 1;
    },
    async startWorker() {
      worker = tasks.worker(workerSettings[name]);
      await worker.start();
      return () => worker.stop();
    },
    unwritten: () => worker?.unwrittenOutcomes ?? 0,
    async close() {
      if (worker) await pool.end(); // the drain child's own pool; the parent keeps its pool
    },
    async teardown() {
      const prefix = table.replace(/_/g, '\\_');
      const [tables] = await pool.query(
        `SELECT table_name AS name FROM information_schema.tables
         WHERE table_schema = DATABASE() AND table_name LIKE '${prefix}%'`,
      );
      for (const { name: t } of tables) await pool.query(`DROP TABLE IF EXISTS \`${t}\``);
      // Migration 7's enqueue procedure goes with the table.
      await pool.query(`DROP PROCEDURE IF EXISTS \`${table}_enqueue\``);
      await pool.end();
    },
  };
}

/** async-task on SQLite: a database file of its own (WAL mode, as the driver sets it). */
async function asyncTaskSqlite(name, schema, onRun) {
  const { default: Database } = await import('better-sqlite3');
  const lib = libraryOf(name);
  const betterSqlite3Driver = await lib.betterSqlite3Driver();
  const Bench = benchTarget(onRun, lib.defineTarget);
  const dir = join(tmpdir(), `async-task-bench-${schema}`);
  const file = join(dir, 'tasks.db');
  let db;
  let tasks;
  let worker;
  const flow = flowOf(name);
  const item = itemOf(name, Bench);
  const open = () => {
    db = new Database(file);
    tasks = new lib.AsyncTask({
      driver: betterSqlite3Driver(db),
      targets: [Bench],
      ...(flow && { queues: flow.queues }),
    });
  };
  return {
    name,
    dialect: 'sqlite',
    get tasks() {
      return tasks;
    },
    async setup() {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      open();
      await tasks.migrate();
    },
    /** Tasks from..from+n-1, in a transaction of their own. */
    async enqueueBatch(from, n) {
      if (!db) open();
      db.transaction(() => {
        tasks.enqueueMany(
          db,
          Array.from({ length: n }, (_, j) => item(from + j)),
        );
      })();
    },
    load(count) {
      return loadInBatches(this, count);
    },
    async pending() {
      return db
        .prepare(`SELECT count(*) AS n FROM async_task_attempts WHERE status = 'pending'`)
        .get().n;
    },
    async busy() {
      return (
        db
          .prepare(
            `SELECT EXISTS (SELECT 1 FROM async_task_attempts WHERE status IN ('pending', 'running')) AS busy`,
          )
          .get().busy === 1
      );
    },
    async startWorker() {
      if (!db) open();
      worker = tasks.worker(workerSettings[name]);
      await worker.start();
      return () => worker.stop();
    },
    unwritten: () => worker?.unwrittenOutcomes ?? 0,
    async close() {
      db?.close();
      db = undefined;
    },
    async teardown() {
      db?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** graphile-worker 0.18, tuned: local queue and batched completions. */
async function graphileWorker(name, schema, onRun) {
  const { run, runMigrations, Logger } = await import('graphile-worker');
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
  const settings = workerSettings['graphile-worker'];
  const options = {
    pgPool: pool,
    schema,
    concurrency: settings.concurrentJobs,
    pollInterval: settings.pollInterval,
    noHandleSignals: true,
    logger: new Logger(() => (level, message) => {
      if (level === 'error') console.error(message);
    }),
    preset: {
      worker: {
        localQueue: settings.localQueue,
        completeJobBatchDelay: settings.completeJobBatchDelay,
        failJobBatchDelay: settings.failJobBatchDelay,
      },
    },
    taskList: {
      noop: async (args) => {
        onRun(args);
      },
    },
  };
  return {
    name,
    dialect: 'postgres',
    pool,
    async setup() {
      await runMigrations(options);
    },
    // In a transaction of the caller's, graphile-worker is driven through its SQL API; payloads
    // are built in JavaScript, as an application's would be (async-task builds its own too).
    async enqueueInTransaction(client, i) {
      await client.query(`SELECT ${schema}.add_job('noop', $1::json)`, [
        JSON.stringify(payload(i)),
      ]);
    },
    async enqueueBulk(client, from, count) {
      const specs = Array.from({ length: count }, (_, j) => ({
        identifier: 'noop',
        payload: payload(from + j),
      }));
      await client.query(
        `SELECT ${schema}.add_jobs(array(
           SELECT json_populate_recordset(null::${schema}.job_spec, $1::json)))`,
        [JSON.stringify(specs)],
      );
    },
    /** Tasks from..from+n-1, in a transaction of their own. */
    enqueueBatch(from, n) {
      return pgTransaction(pool, (client) => this.enqueueBulk(client, from, n));
    },
    load(count) {
      return loadInBatches(this, count);
    },
    async pending() {
      const { rows } = await pool.query(
        `SELECT count(*)::int AS n FROM ${schema}._private_jobs WHERE locked_at IS NULL`,
      );
      return rows[0].n;
    },
    // graphile-worker deletes a job once it succeeds: the drain is over when no job is left.
    async busy(client) {
      const { rows } = await client.query(
        `SELECT EXISTS (SELECT 1 FROM ${schema}._private_jobs) AS busy`,
      );
      return rows[0].busy;
    },
    async startWorker() {
      const runner = await run(options);
      return () => runner.stop();
    },
    unwritten: () => undefined,
    async teardown() {
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await pool.end();
    },
  };
}

export async function makeSystem(name, schema, onRun) {
  if (/^async-task(-tuned|-pollonly|-flow-\w+?)?(-baseline)?$/.test(name)) {
    return asyncTaskPg(name, schema, onRun);
  }
  if (/^async-task-mysql(-flow-\w+?)?(-baseline)?$/.test(name)) {
    return asyncTaskMysql(name, schema, onRun);
  }
  if (/^async-task-sqlite(-flow-\w+?)?(-baseline)?$/.test(name)) {
    return asyncTaskSqlite(name, schema, onRun);
  }
  if (name === 'graphile-worker') return graphileWorker(name, schema, onRun);
  throw new Error(`unknown system ${name}; one of ${systemNames.join(', ')}`);
}
