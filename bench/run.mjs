// `npm run bench`: async-task against graphile-worker on the same PostgreSQL, in one run.
// Scenarios: enqueue one task per transaction, enqueue in bulk, drain a pre-loaded backlog with
// one worker process, and pickup latency (COMMIT acknowledged -> handler start) at idle.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { databaseUrl, makeSystem, workerSettings } from './systems.mjs';

const args = new Map(
  process.argv.slice(2).map((arg) => {
    const [key, value] = arg.replace(/^--/, '').split('=');
    return [key, value ?? 'true'];
  }),
);
const drainCount = Number(args.get('drain') ?? 20_000);
const singleCount = Number(args.get('single') ?? 2_000);
const bulkCount = Number(args.get('bulk') ?? 20_000);
const latencySamples = Number(args.get('latency') ?? 300);
const systems = (args.get('systems') ?? 'async-task,graphile-worker').split(',');

const version = (pkg) =>
  JSON.parse(readFileSync(new URL(`../node_modules/${pkg}/package.json`, import.meta.url))).version;

async function pgStats(pool) {
  const { rows } = await pool.query(
    `SELECT xact_commit::bigint AS commits, pg_current_wal_lsn() AS lsn
     FROM pg_stat_database WHERE datname = current_database()`,
  );
  return rows[0];
}

async function walBytes(pool, from, to) {
  const { rows } = await pool.query('SELECT pg_wal_lsn_diff($1, $2)::bigint AS bytes', [to, from]);
  return Number(rows[0].bytes);
}

async function measureCost(pool, fn) {
  const before = await pgStats(pool);
  const started = performance.now();
  await fn();
  const elapsedMs = performance.now() - started;
  const after = await pgStats(pool);
  return {
    elapsedMs,
    commits: Number(after.commits) - Number(before.commits) - 1,
    wal: await walBytes(pool, before.lsn, after.lsn),
  };
}

async function enqueueSingle(system, schema) {
  const client = await system.pool.connect();
  try {
    const cost = await measureCost(system.pool, async () => {
      for (let i = 0; i < singleCount; i++) {
        await client.query('BEGIN');
        await system.enqueueInTransaction(client, i);
        await client.query('COMMIT');
      }
    });
    return { perSecond: singleCount / (cost.elapsedMs / 1000), walPerTask: cost.wal / singleCount };
  } finally {
    client.release();
    await system.pool.query(`SELECT 1`);
    void schema;
  }
}

async function enqueueBulk(system) {
  const client = await system.pool.connect();
  try {
    const cost = await measureCost(system.pool, async () => {
      for (let i = 0; i < bulkCount; i += 1000) {
        await client.query('BEGIN');
        await system.enqueueBulk(client, i, Math.min(1000, bulkCount - i));
        await client.query('COMMIT');
      }
    });
    return { perSecond: bulkCount / (cost.elapsedMs / 1000), walPerTask: cost.wal / bulkCount };
  } finally {
    client.release();
  }
}

function runChild(script, childArgs) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [new URL(script, import.meta.url).pathname, ...childArgs],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`${script} exited ${code}`)),
    );
  });
}

async function drain(system, name, schema) {
  const client = await system.pool.connect();
  try {
    for (let i = 0; i < drainCount; i += 1000) {
      await client.query('BEGIN');
      await system.enqueueBulk(client, i, Math.min(1000, drainCount - i));
      await client.query('COMMIT');
    }
  } finally {
    client.release();
  }
  await system.pool.query('CHECKPOINT');
  const before = await pgStats(system.pool);
  const result = await runChild('./drain.mjs', [name, schema, String(drainCount)]);
  const after = await pgStats(system.pool);
  return {
    perSecond: result.perSecond,
    commitsPerTask: (Number(after.commits) - Number(before.commits)) / drainCount,
    walPerTask: (await walBytes(system.pool, before.lsn, after.lsn)) / drainCount,
  };
}

async function latency(name, schema) {
  let resolveRun;
  const system = await makeSystem(name, schema, () => resolveRun?.(performance.now()));
  const stop = await system.startWorker();
  const client = await system.pool.connect();
  const fromCommitted = [];
  const fromSent = [];
  try {
    for (let i = 0; i < latencySamples + 20; i++) {
      const ran = new Promise((resolve) => (resolveRun = resolve));
      await client.query('BEGIN');
      await system.enqueueInTransaction(client, i);
      const sent = performance.now();
      await client.query('COMMIT');
      const committed = performance.now();
      const started = await ran;
      if (i < 20) continue; // the first 20 warm up
      // A handler may start before the COMMIT's reply is read: the task existed from then on.
      fromCommitted.push(Math.max(0, started - committed));
      fromSent.push(started - sent);
      // Idle between samples, as a real enqueuer would be, so one pickup never overlaps the next.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    client.release();
    await stop();
    await system.pool.end();
  }
  return { committed: percentiles(fromCommitted), sent: percentiles(fromSent) };
}

function percentiles(samples) {
  samples.sort((a, b) => a - b);
  const at = (q) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))];
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

const results = {};
for (const name of systems) {
  const schema = `bench_${name.replace(/\W/g, '_')}_${process.pid}`;
  const system = await makeSystem(name, schema, () => {});
  try {
    await system.setup();
    // Latency first, "at idle": a fresh table and an idle worker.
    // A scenario given a count of 0 is skipped (e.g. `--drain=0 --single=0 --bulk=0`).
    results[name] = {
      latency: latencySamples > 0 ? await latency(name, schema) : undefined,
      single: singleCount > 0 ? await enqueueSingle(system, schema) : undefined,
      bulk: bulkCount > 0 ? await enqueueBulk(system) : undefined,
    };
    if (drainCount > 0) {
      await system.pool.query(`DROP SCHEMA ${schema} CASCADE`);
      await system.setup();
      results[name].drain = await drain(system, name, schema);
    }
  } finally {
    await system.teardown();
  }
}

const pgVersion = execFileSync('psql', [databaseUrl, '-Atc', 'SHOW server_version'])
  .toString()
  .trim();
const fsync = execFileSync('psql', [databaseUrl, '-Atc', 'SHOW fsync']).toString().trim();
const syncCommit = execFileSync('psql', [databaseUrl, '-Atc', 'SHOW synchronous_commit'])
  .toString()
  .trim();
console.log('# async-task benchmark');
console.log(
  `node ${process.version}, PostgreSQL ${pgVersion} (fsync=${fsync}, synchronous_commit=${syncCommit}), ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
);
console.log(
  `async-task ${version('..')}, graphile-worker ${version('graphile-worker')}, pg ${version('pg')}`,
);
console.log(
  `drain: ${drainCount} no-op tasks, one worker process; single: ${singleCount} transactions; bulk: ${bulkCount} tasks in transactions of 1000; latency: ${latencySamples} samples at idle, COMMIT acknowledged -> handler start (and COMMIT sent -> handler start, which adds the commit's own fsync)`,
);
for (const [name, settings] of Object.entries(workerSettings))
  console.log(`${name} worker settings: ${JSON.stringify(settings)}`);
console.log('');
const fmt = (n, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const rows = [
  ['drain (tasks/s)', (r) => fmt(r.drain.perSecond)],
  ['drain commits/task', (r) => fmt(r.drain.commitsPerTask, 3)],
  ['drain WAL bytes/task', (r) => fmt(r.drain.walPerTask)],
  ['enqueue, 1 per tx (tasks/s)', (r) => fmt(r.single.perSecond)],
  ['enqueue, 1 per tx WAL bytes/task', (r) => fmt(r.single.walPerTask)],
  ['enqueue, bulk (tasks/s)', (r) => fmt(r.bulk.perSecond)],
  ['pickup latency p50 (ms)', (r) => fmt(r.latency.committed.p50, 2)],
  ['pickup latency p95 (ms)', (r) => fmt(r.latency.committed.p95, 2)],
  ['pickup latency p99 (ms)', (r) => fmt(r.latency.committed.p99, 2)],
  ['pickup incl. COMMIT, p50 (ms)', (r) => fmt(r.latency.sent.p50, 2)],
  ['pickup incl. COMMIT, p99 (ms)', (r) => fmt(r.latency.sent.p99, 2)],
];
const names = Object.keys(results);
const ratioOf = (label, a, b) => {
  const x = Number(a.replace(/,/g, ''));
  const y = Number(b.replace(/,/g, ''));
  if (!y) return '';
  const lowerIsBetter = /latency|pickup|WAL|commits/.test(label);
  return `${(lowerIsBetter ? y / x : x / y).toFixed(2)}x`;
};
console.log(
  `| scenario | ${names.join(' | ')}${names.length === 2 ? ' | async-task advantage |' : ' |'}`,
);
console.log(`|---|${names.map(() => '---:').join('|')}|${names.length === 2 ? '---:|' : ''}`);
for (const [label, get] of rows) {
  const cells = names.map((n) => {
    try {
      return get(results[n]);
    } catch {
      return 'skipped';
    }
  });
  if (cells.every((cell) => cell === 'skipped')) continue;
  console.log(
    `| ${label} | ${cells.join(' | ')} |${names.length === 2 ? ` ${ratioOf(label, cells[0], cells[1])} |` : ''}`,
  );
}
