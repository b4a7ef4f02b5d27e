// The systems the benchmark compares: async-task (from dist/, as users run it) and the baseline,
// graphile-worker. Each exposes the same four operations so run.mjs can time them alike.
import pg from 'pg';
import { AsyncTask, defineTarget } from '../dist/index.js';
import { pgDriver } from '../dist/drivers/pg.js';

export const databaseUrl =
  process.env.ASYNC_TASK_BENCH_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export const workerSettings = {
  'async-task': { concurrency: 100, prefetch: 4000, batchSize: 2000, pollIntervalMs: 1000 },
  'graphile-worker': {
    concurrentJobs: 100,
    localQueue: { size: 1000 },
    completeJobBatchDelay: 0,
    failJobBatchDelay: 0,
    pollInterval: 1000,
  },
};

/** async-task: a table in its own schema. */
export function asyncTask(schema, onRun) {
  const Bench = defineTarget('Bench', {
    async noop(_args) {
      onRun();
    },
  });
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
  const tasks = new AsyncTask({
    driver: pgDriver(pool),
    targets: [Bench],
    table: `${schema}.attempts`,
  });
  return {
    name: 'async-task',
    pool,
    async setup() {
      await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await tasks.migrate();
    },
    async enqueueInTransaction(client, i) {
      await tasks.enqueue(client, Bench.noop, { i });
    },
    async enqueueBulk(client, from, count) {
      await tasks.enqueueMany(
        client,
        Array.from({ length: count }, (_, j) => ({ method: Bench.noop, args: { i: from + j } })),
      );
    },
    async startWorker() {
      const worker = tasks.worker(workerSettings['async-task']);
      await worker.start();
      return () => worker.stop();
    },
    async teardown() {
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await pool.end();
    },
  };
}

/** graphile-worker 0.18, tuned: local queue and batched completions. */
export async function graphileWorker(schema, onRun) {
  const { run, runMigrations } = await import('graphile-worker');
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
  const settings = workerSettings['graphile-worker'];
  const options = {
    pgPool: pool,
    schema,
    concurrency: settings.concurrentJobs,
    pollInterval: settings.pollInterval,
    noHandleSignals: true,
    logger: quietGraphileLogger(await import('graphile-worker')),
    preset: {
      worker: {
        localQueue: settings.localQueue,
        completeJobBatchDelay: settings.completeJobBatchDelay,
        failJobBatchDelay: settings.failJobBatchDelay,
      },
    },
    taskList: {
      noop: async () => {
        onRun();
      },
    },
  };
  return {
    name: 'graphile-worker',
    pool,
    async setup() {
      await runMigrations(options);
    },
    // In a transaction of the caller's, graphile-worker is driven through its SQL API; payloads
    // are built in JavaScript, as an application's would be (async-task builds its own too).
    async enqueueInTransaction(client, i) {
      await client.query(`SELECT ${schema}.add_job('noop', $1::json)`, [JSON.stringify({ i })]);
    },
    async enqueueBulk(client, from, count) {
      const specs = Array.from({ length: count }, (_, j) => ({
        identifier: 'noop',
        payload: { i: from + j },
      }));
      await client.query(
        `SELECT ${schema}.add_jobs(array(
           SELECT json_populate_recordset(null::${schema}.job_spec, $1::json)))`,
        [JSON.stringify(specs)],
      );
    },
    async startWorker() {
      const runner = await run(options);
      return () => runner.stop();
    },
    async teardown() {
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await pool.end();
    },
  };
}

function quietGraphileLogger({ Logger }) {
  return new Logger(() => (level, message) => {
    if (level === 'error') console.error(message);
  });
}

export async function makeSystem(name, schema, onRun) {
  if (name === 'async-task') return asyncTask(schema, onRun);
  if (name === 'graphile-worker') return graphileWorker(schema, onRun);
  throw new Error(`unknown system ${name}`);
}
