// `npm run bench:prune -- --dialects=postgres,mysql,sqlite --rows=1000000`: how fast a manual
// prune (`tasks.prune({ olderThan })`, what `async-task prune` runs) deletes the finished attempts
// of a table of `rows`, nine in ten of them succeeded 30 days ago and one in ten failed just now
// (kept, spread through the table), in batches of 1,000. Prints the rate in all and over the
// first and the last tenth of the prune, which tells a prune that slows as it goes. Each table is
// filled by one INSERT … SELECT and dropped afterwards.
// With ASYNC_TASK_BASELINE=<a built checkout>, that build is measured too, in the same run.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { databaseUrl, mysqlUrl } from './systems.mjs';

const require = createRequire(import.meta.url);
const args = new Map(
  process.argv.slice(2).map((arg) => {
    const [key, value] = arg.replace(/^--/, '').split('=');
    return [key, value ?? 'true'];
  }),
);
const dialects = (args.get('dialects') ?? 'postgres,mysql,sqlite').split(',');
const rows = Number(args.get('rows') ?? 1_000_000);
const builds = [['current', new URL('../', import.meta.url).href]];
const baseline = process.env.ASYNC_TASK_BASELINE;
if (baseline) builds.push(['baseline', pathToFileURL(`${baseline.replace(/\/$/, '')}/`).href]);

const results = [];
for (const dialect of dialects) {
  const cells = [];
  for (const [build, root] of builds) {
    const result = await measure(dialect, root);
    process.stderr.write(`${dialect} ${build}: ${JSON.stringify(result)}\n`);
    cells.push(result);
  }
  results.push([dialect, cells]);
}

console.log('# manual prune');
console.log(`node ${process.version}, ${os.cpus().length} cores`);
console.log(
  `${rows.toLocaleString('en-US')} attempts: 9 in 10 succeeded 30 days ago (deleted), 1 in 10 failed now (kept); batchSize 1,000`,
);
const header = [
  'dialect',
  ...builds.map(([build]) => `${build}: deleted/s (first tenth, last tenth)`),
];
if (builds.length === 2) header.push('current / baseline');
console.log(`\n| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
for (const [dialect, cells] of results) {
  const shown = cells.map(
    (r) =>
      `${r.perSecond.toLocaleString('en-US')} (${r.first.toLocaleString('en-US')}, ${r.last.toLocaleString('en-US')})`,
  );
  const ratio =
    cells.length === 2 ? [`${(cells[0].perSecond / cells[1].perSecond).toFixed(2)}x`] : [];
  console.log(`| ${[dialect, ...shown, ...ratio].join(' | ')} |`);
}

async function measure(dialect, root) {
  const { AsyncTask, defineTarget } = await import(new URL('dist/index.js', root).href);
  const Bench = defineTarget('Bench', { run() {} });
  const opened = await open(dialect, root);
  try {
    const tasks = new AsyncTask({ driver: opened.driver, table: opened.table, targets: [Bench] });
    await tasks.migrate();
    await opened.fill();
    const deletable = rows - Math.floor(rows / 10);
    const tenth = deletable / 10;
    const marks = [];
    const started = performance.now();
    const deleted = await tasks.prune({
      olderThan: new Date(Date.now() - 7 * 86_400_000),
      onProgress: (count) => marks.push([count, performance.now()]),
    });
    const seconds = (performance.now() - started) / 1000;
    const at = (count) => marks.find(([n]) => n >= count) ?? marks.at(-1);
    const rate = ([n1, t1], [n2, t2]) => Math.round((n2 - n1) / ((t2 - t1) / 1000));
    return {
      deleted,
      seconds: Number(seconds.toFixed(2)),
      perSecond: Math.round(deleted / seconds),
      first: rate([0, started], at(tenth)),
      last: rate(at(deletable - tenth), marks.at(-1)),
    };
  } finally {
    await opened.close();
  }
}

async function open(dialect, root) {
  const driverModule = (name) => import(new URL(`dist/drivers/${name}.js`, root).href);
  const suffix = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  if (dialect === 'postgres') {
    const pg = require('pg');
    const { pgDriver } = await driverModule('pg');
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    const schema = `bench_prune_${suffix}`;
    await pool.query(`CREATE SCHEMA ${schema}`);
    const table = `${schema}.attempts`;
    return {
      driver: pgDriver(pool),
      table,
      fill: async () => {
        await pool.query(
          `INSERT INTO ${table} (target, method_name, status, num_attempts, completed_at)
           SELECT 'Bench', 'run', CASE WHEN g % 10 = 0 THEN 'failed' ELSE 'succeeded' END, 1,
             CASE WHEN g % 10 = 0 THEN now() ELSE now() - interval '30 days' END
           FROM generate_series(1, $1::int) AS g`,
          [rows],
        );
        await pool.query(`ANALYZE ${table}`);
      },
      close: async () => {
        await pool.query(`DROP SCHEMA ${schema} CASCADE`);
        await pool.end();
      },
    };
  }
  if (dialect === 'mysql') {
    const mysql = require('mysql2/promise');
    const { mysql2Driver } = await driverModule('mysql2');
    const pool = mysql.createPool({ uri: mysqlUrl, connectionLimit: 2 });
    const database = `bench_prune_${suffix}`;
    await pool.query(`CREATE DATABASE ${database}`);
    const table = `${database}.attempts`;
    return {
      driver: mysql2Driver(pool),
      table,
      fill: async () => {
        const connection = await pool.getConnection();
        try {
          await connection.query('SET SESSION max_recursive_iterations = 100000000');
          await connection.query(
            `INSERT INTO ${table} (target, method_name, status, num_attempts, completed_at)
             WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < ?)
             SELECT 'Bench', 'run', IF(g % 10 = 0, 'failed', 'succeeded'), 1,
               IF(g % 10 = 0, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) - INTERVAL 30 DAY) FROM s`,
            [rows],
          );
        } finally {
          connection.release();
        }
        await pool.query(`ANALYZE TABLE ${table}`);
      },
      close: async () => {
        await pool.query(`DROP DATABASE ${database}`);
        await pool.end();
      },
    };
  }
  const Database = require('better-sqlite3');
  const { betterSqlite3Driver } = await driverModule('better-sqlite3');
  const folder = mkdtempSync(join(os.tmpdir(), 'bench-prune-'));
  const db = new Database(join(folder, 'bench.db'));
  db.pragma('journal_mode = WAL');
  const driver = betterSqlite3Driver(db);
  return {
    driver,
    table: 'attempts',
    fill: () => {
      db.prepare(
        `INSERT INTO attempts (target, method_name, status, num_attempts, completed_at)
         WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < ?)
         SELECT 'Bench', 'run', iif(g % 10 = 0, 'failed', 'succeeded'), 1,
           iif(g % 10 = 0, ?, ?) FROM s`,
      ).run(rows, Date.now(), Date.now() - 30 * 86_400_000);
      return Promise.resolve();
    },
    close: async () => {
      await driver.close?.();
      db.close();
      rmSync(folder, { recursive: true, force: true });
    },
  };
}
