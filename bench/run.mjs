// `npm run bench`: async-task against graphile-worker on the same PostgreSQL, in one run.
// Scenarios: enqueue one task per transaction, enqueue in bulk, drain a pre-loaded backlog with
// one worker process, and pickup latency (COMMIT acknowledged -> handler start) at idle.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import { databaseUrl, makeSystem, paddingChars, systemNames, workerSettings } from './systems.mjs';

const args = new Map(
  process.argv.slice(2).map((arg) => {
    const [key, value] = arg.replace(/^--/, '').split('=');
    return [key, value ?? 'true'];
  }),
);
// --drain takes a list of backlogs; --deep=P:F drains P pending beside F finished rows.
const list = (text) => (text === '0' ? [] : text.split(',').map(Number));
const drainCounts = list(args.get('drain') ?? '20000,200000');
const [deepPending, deepFinished] = (args.get('deep') ?? '0:0').split(':').map(Number);
const runs = Number(args.get('runs') ?? 1);
const singleCount = Number(args.get('single') ?? 2_000);
const bulkCount = Number(args.get('bulk') ?? 20_000);
const latencySamples = Number(args.get('latency') ?? 300);
const systems = (args.get('systems') ?? 'async-task,async-task-tuned,graphile-worker').split(',');
for (const name of systems) {
  if (!systemNames.includes(name)) throw new Error(`unknown system ${name}; one of ${systemNames}`);
}
// Enqueue and latency compare PostgreSQL systems with their own settings.
const enqueueSystems = systems.filter((name) =>
  ['async-task', 'async-task-baseline', 'graphile-worker'].includes(name),
);

const version = (pkg) =>
  JSON.parse(readFileSync(new URL(`../node_modules/${pkg}/package.json`, import.meta.url))).version;

const pgDataDirectory = execFileSync('psql', [databaseUrl, '-Atc', 'SHOW data_directory'])
  .toString()
  .trim();

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

/** Untimed transactions of 1,000 before the timed ones of the bulk scenario. */
const bulkWarmup = 5;

async function enqueueBulk(system) {
  const client = await system.pool.connect();
  const batch = async (from, count) => {
    await client.query('BEGIN');
    await system.enqueueBulk(client, from, count);
    await client.query('COMMIT');
  };
  try {
    // Every system runs in this process, one after another: the first one measured paid for
    // compiling the code they share (pg's protocol parser and serializer).
    for (let i = 0; i < bulkWarmup; i++) await batch(bulkCount + i * 1000, 1000);
    const cost = await measureCost(system.pool, async () => {
      for (let i = 0; i < bulkCount; i += 1000) await batch(i, Math.min(1000, bulkCount - i));
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
      ['--expose-gc', new URL(script, import.meta.url).pathname, ...childArgs],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`${script} exited ${code}`)),
    );
  });
}

/** CPU seconds the database server has used so far, its exited backends included. */
function serverCpuSeconds(dialect) {
  const ticks = Number(execFileSync('getconf', ['CLK_TCK']).toString());
  const stat = (pid) => {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // utime, stime, cutime, cstime: a process's own and its reaped children's.
    return {
      ppid: Number(fields[1]),
      cpu: fields.slice(11, 15).reduce((a, b) => a + Number(b), 0),
    };
  };
  const pids = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  if (dialect === 'postgres') {
    // The postmaster reaps every backend, so its children's times include the ones that exited.
    const postmaster = Number(
      readFileSync(`${pgDataDirectory}/postmaster.pid`, 'utf8').split('\n')[0],
    );
    let total = stat(postmaster).cpu;
    for (const pid of pids) {
      try {
        const s = stat(pid);
        if (s.ppid === postmaster) total += s.cpu;
      } catch {
        // exited meanwhile: already in the postmaster's children's times
      }
    }
    return total / ticks;
  }
  if (dialect === 'mysql') {
    for (const pid of pids) {
      try {
        if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'mariadbd')
          return stat(pid).cpu / ticks;
      } catch {
        // exited meanwhile
      }
    }
  }
  return NaN; // SQLite runs inside the worker: its CPU is the worker's
}

async function drain(name, schema, count, finished, mode = 'timed') {
  const system = await makeSystem(name, schema, () => {});
  try {
    await system.setup();
    if (finished > 0) await system.loadFinished(finished);
    await system.load(count);
    if (system.dialect === 'postgres') await system.pool.query('CHECKPOINT');
    await system.close?.();
    const before = system.pool ? await pgStats(system.pool) : undefined;
    const cpuBefore = serverCpuSeconds(system.dialect);
    const result = await runChild('./drain.mjs', [name, schema, String(count), mode]);
    // Let the postmaster reap the child's backends, so their CPU is counted.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const serverCpu = serverCpuSeconds(system.dialect) - cpuBefore;
    const after = system.pool ? await pgStats(system.pool) : undefined;
    return {
      ...result,
      dbCpuUsPerTask: (serverCpu * 1e6) / count,
      commitsPerTask: before ? (Number(after.commits) - Number(before.commits)) / count : NaN,
      walPerTask: before ? (await walBytes(system.pool, before.lsn, after.lsn)) / count : NaN,
    };
  } finally {
    await system.teardown();
  }
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

const schemaOf = (name) => `bench_${name.replace(/\W/g, '_')}_${process.pid}`;
const results = {};
for (const name of enqueueSystems) {
  if (latencySamples === 0 && singleCount === 0 && bulkCount === 0) break;
  const schema = schemaOf(name);
  const system = await makeSystem(name, schema, () => {});
  try {
    await system.setup();
    // Latency first, "at idle": a fresh table and an idle worker.
    // A scenario given a count of 0 is skipped (e.g. `--single=0 --bulk=0 --latency=0`).
    results[name] = {
      latency: latencySamples > 0 ? await latency(name, schema) : undefined,
      single: singleCount > 0 ? await enqueueSingle(system, schema) : undefined,
      bulk: bulkCount > 0 ? await enqueueBulk(system) : undefined,
    };
  } finally {
    await system.teardown();
  }
}

const drains = [
  ...drainCounts.map((count) => ({ label: count.toLocaleString('en-US'), count, finished: 0 })),
  ...(deepPending > 0
    ? [
        {
          label: `${deepPending.toLocaleString('en-US')} beside ${deepFinished.toLocaleString('en-US')} finished`,
          count: deepPending,
          finished: deepFinished,
        },
      ]
    : []),
];
const drainResults = new Map();
const heapResults = new Map();
for (const { label, count, finished } of drains) {
  for (let run = 0; run < runs; run++) {
    for (const name of systems) {
      // graphile-worker deletes what it finishes: it has no deep table to compare.
      if (finished > 0 && name === 'graphile-worker') continue;
      const result = await drain(name, schemaOf(name), count, finished);
      const key = `${label}|${name}`;
      drainResults.set(key, [...(drainResults.get(key) ?? []), result]);
      console.error(`drain ${label} ${name} run ${run + 1}: ${Math.round(result.perSecond)}/s`);
    }
  }
  // The heap after GC comes from one more run per system, untimed (see drain.mjs): only from
  // 100,000 up, where something building up per task would show.
  if (count < 100_000) continue;
  for (const name of systems) {
    if (finished > 0 && name === 'graphile-worker') continue;
    const { heapSamples } = await drain(name, schemaOf(name), count, finished, 'heap');
    heapResults.set(`${label}|${name}`, heapSamples);
    console.error(`drain ${label} ${name}: heap samples taken`);
  }
}

const pgVersion = execFileSync('psql', [databaseUrl, '-Atc', 'SHOW server_version'])
  .toString()
  .trim();
const setting = (name) =>
  execFileSync('psql', [databaseUrl, '-Atc', `SHOW ${name}`])
    .toString()
    .trim();
console.log('# async-task benchmark');
console.log(
  `node ${process.version}, PostgreSQL ${pgVersion} (fsync=${setting('fsync')}, synchronous_commit=${setting('synchronous_commit')}, autovacuum=${setting('autovacuum')}, shared_buffers=${setting('shared_buffers')}), ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
);
console.log(
  `async-task ${version('..')}, graphile-worker ${version('graphile-worker')}, pg ${version('pg')}`,
);
for (const name of systems)
  console.log(`${name} worker settings: ${JSON.stringify(workerSettings[name])}`);
console.log(
  `drain: no-op tasks${paddingChars > 0 ? ` (payloads padded by ${paddingChars} characters)` : ''}, one worker process, timed until the database shows no task pending or running; ${runs} run(s) each, separated by /`,
);
const fmt = (n, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : 'n/a';
const drainRows = [
  ['durable tasks/s', (r) => fmt(r.perSecond)],
  ['last handler returned at (s)', (r) => fmt(r.handlersMs / 1000, 1)],
  ['every outcome written at (s)', (r) => fmt(r.elapsedMs / 1000, 1)],
  ['worker CPU µs/task', (r) => fmt(r.cpuUsPerTask, 1)],
  [
    '… of it on V8/libuv helper threads',
    (r) => (r.helperCpuUsPerTask == null ? 'n/a' : fmt(r.helperCpuUsPerTask, 1)),
  ],
  ['database CPU µs/task', (r) => fmt(r.dbCpuUsPerTask, 1)],
  ['WAL bytes/task', (r) => fmt(r.walPerTask)],
  ['commits/task', (r) => fmt(r.commitsPerTask, 3)],
  ['worker peak RSS (MB)', (r) => fmt(r.peakRssMb)],
  ['peak unwritten outcomes', (r) => (r.peakUnwritten === null ? 'n/a' : fmt(r.peakUnwritten))],
];
for (const { label, finished } of drains) {
  const names = systems.filter((name) => drainResults.has(`${label}|${name}`));
  console.log('');
  console.log(`| drain ${label} | ${names.join(' | ')} |`);
  console.log(`|---|${names.map(() => '---:').join('|')}|`);
  for (const [row, get] of drainRows) {
    const cells = names.map((name) => drainResults.get(`${label}|${name}`).map(get).join(' / '));
    console.log(`| ${row} | ${cells.join(' | ')} |`);
  }
  const heapCells = names.map((name) => {
    const heaps = (heapResults.get(`${label}|${name}`) ?? []).slice(1).map((s) => s.heapMb);
    return heaps.length ? `${fmt(Math.min(...heaps))}–${fmt(Math.max(...heaps))}` : 'n/a';
  });
  console.log(`| heap after GC, 10%..end (MB; one more, untimed run) | ${heapCells.join(' | ')} |`);
  const baseline = drainResults.get(`${label}|graphile-worker`);
  if (baseline && finished === 0) {
    const ratios = names.map((name) =>
      drainResults
        .get(`${label}|${name}`)
        .map((r, i) => `${(r.perSecond / baseline[i].perSecond).toFixed(2)}x`)
        .join(' / '),
    );
    console.log(`| durable rate vs graphile-worker | ${ratios.join(' | ')} |`);
  }
}

if (Object.keys(results).length > 0) {
  console.log('');
  console.log(
    `single: ${singleCount} transactions; bulk: ${bulkCount} tasks in transactions of 1000, after ${bulkWarmup} untimed; latency: ${latencySamples} samples at idle, COMMIT acknowledged -> handler start (and COMMIT sent -> handler start, which adds the commit's own fsync)`,
  );
  const rows = [
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
}
