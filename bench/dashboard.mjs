// `npm run bench:dashboard`: the dashboard on a 6,000,000-row PostgreSQL table, run from source
// with tsx (no build). Fills the table
// (schema dashboard_bench; minutes, once: --reuse keeps a filled one), then times each page and
// API request through the handler (no network), median and worst of --runs after two warm-ups.
// Target: every request under 200 ms. Options: --rows=6000000 --runs=9 --reuse
import pg from 'pg';
import { AsyncTask, defineTarget } from '../src/index.js';
import { pgDriver } from '../src/drivers/pg.js';
import { dashboard } from '../src/dashboard/index.js';
import { fillAttempts, rowShape } from './dashboard-fill.mjs';

const databaseUrl = process.env.ASYNC_TASK_BENCH_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const args = new Map(
  process.argv.slice(2).map((arg) => {
    const [key, value] = arg.replace(/^--/, '').split('=');
    return [key, value ?? 'true'];
  }),
);
const rows = Number(args.get('rows') ?? 6_000_000);
const runs = Number(args.get('runs') ?? 9);
const schema = 'dashboard_bench';
const table = `"${schema}".async_task_attempts`;

const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
// The schedules and limits page reads each schedule's newest tick (rows of Reports.nightly get
// tick tokens below) and each limited queue's counts and starts.
const Reports = defineTarget('Reports', { nightly() {} });
const tasks = new AsyncTask({
  driver: pgDriver(pool),
  targets: [Reports],
  table: `${schema}.async_task_attempts`,
  schedules: [
    { name: 'nightly', cron: '* * * * *', method: Reports.nightly, args: {} },
    { name: 'nightly:2', cron: '* * * * *', method: Reports.nightly, args: {} },
    { name: 'weekly', cron: '0 3 * * 1', timezone: 'Europe/Berlin', method: Reports.nightly },
  ],
  queues: {
    mail: { concurrency: 10, rateLimit: { limit: 100, periodMs: 60_000, perKey: true } },
    reports: { rateLimit: { limit: 100, periodMs: 3_600_000 } },
  },
});
const { rows: existing } = await pool.query(`SELECT to_regclass($1) IS NOT NULL AS present`, [
  table,
]);
const count = existing[0].present
  ? Number((await pool.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n)
  : 0;
if (args.get('reuse') !== 'true' || count !== rows) {
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await pool.query(`CREATE SCHEMA "${schema}"`);
  await tasks.migrate();
  const started = performance.now();
  await fillAttempts(pool, table, rows, {
    onProgress: (inserted) =>
      process.stderr.write(`\rfilled ${inserted.toLocaleString('en-US')} rows`),
  });
  // Ticks of two schedules (the second's name extends the first's, so its tokens sort inside
  // the first's range), one a minute, on 120,000 rows of Reports.nightly.
  for (const [name, from, to] of [
    ['nightly', 1, 60_000],
    ['nightly:2', 60_001, 120_000],
  ]) {
    await pool.query(
      `UPDATE ${table} SET idempotence_token = 'schedule:' || $1 || ':' ||
         to_char(to_timestamp(1767225600 + id * 60) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
       WHERE target = 'Reports' AND id BETWEEN $2 AND $3`,
      [name, from, to],
    );
  }
  await pool.query(`ANALYZE ${table}`);
  process.stderr.write(
    `\nfilled and analysed in ${((performance.now() - started) / 1000).toFixed(0)} s\n`,
  );
}

const handle = dashboard(tasks, { authorize: () => true });
const newest = rows - 10;
const tokenRow = rowShape(newest);
const oldRow = rowShape(10);
const { rows: failedRows } = await pool.query(
  `SELECT id::text FROM ${table} WHERE status = 'failed' ORDER BY id DESC LIMIT 1`,
);
const failedId = failedRows[0].id;
const requests = [
  ['page: queues', '/'],
  ['page: attempts', '/attempts'],
  ['page: attempts, failed', '/attempts?status=failed'],
  ['page: one attempt', `/attempts/${failedId}`],
  ['api: queues (counts, workers)', '/api/queues'],
  ['api: outcomes last hour', '/api/outcomes'],
  ['api: attempts', '/api/attempts'],
  ['api: attempts, failed', '/api/attempts?status=failed'],
  ['api: attempts, expired', '/api/attempts?status=expired'],
  ['api: attempts, pending', '/api/attempts?status=pending'],
  ['api: attempts, running', '/api/attempts?status=running'],
  ['api: attempts, queue', '/api/attempts?queue=reports'],
  ['api: attempts, target + method', '/api/attempts?target=Reports&method=nightly'],
  [
    'api: attempts, token',
    `/api/attempts?target=${tokenRow.target}&method=${tokenRow.method}&token=${tokenRow.token}`,
  ],
  ['api: attempts, token only', `/api/attempts?token=${tokenRow.token}`],
  // The worst cases: a filter without an index of its own walks the primary key until it has a
  // page, so one that matches nothing, or only the oldest rows, reads the whole table.
  ['api: attempts, target matching none', '/api/attempts?target=Nobody'],
  ['api: attempts, oldest token only', `/api/attempts?token=${oldRow.token}`],
  [
    'api: attempts, oldest token + target + method',
    `/api/attempts?target=${oldRow.target}&method=${oldRow.method}&token=${oldRow.token}`,
  ],
  ['api: attempts, page in the middle', `/api/attempts?before=${Math.floor(rows / 2)}`],
  ['api: one attempt', `/api/attempts/${failedId}`],
  ['page: schedules and limits', '/schedules'],
  ['api: schedules (newest ticks)', '/api/schedules'],
  ['api: limits (counts, starts)', '/api/limits'],
];

const time = async (path) => {
  const started = performance.now();
  const response = await handle(
    new Request(`http://127.0.0.1${path}`, { headers: { accept: 'text/html' } }),
    {
      remoteAddress: '127.0.0.1',
    },
  );
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`${path}: ${response.status}`);
  return performance.now() - started;
};

console.log(
  `dashboard on ${rows.toLocaleString('en-US')} attempts (PostgreSQL), ${runs} runs each`,
);
console.log('request'.padEnd(40), 'median ms'.padStart(10), 'worst ms'.padStart(10), '');
let slow = 0;
for (const [name, path] of requests) {
  await time(path);
  await time(path);
  const times = [];
  for (let run = 0; run < runs; run++) times.push(await time(path));
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  const worst = times.at(-1);
  if (worst >= 200) slow += 1;
  console.log(
    name.padEnd(40),
    median.toFixed(1).padStart(10),
    worst.toFixed(1).padStart(10),
    worst < 200 ? '' : ' over 200 ms',
  );
}
console.log(slow === 0 ? 'every request under 200 ms' : `${slow} request(s) over 200 ms`);
await pool.end();
