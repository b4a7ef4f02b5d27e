// `npm run bench:beside -- --dialects=postgres,mysql,sqlite --backlog=0,200000 --count=20000`:
// how fast one worker drains `count` tasks of the default queue beside a backlog in the queue
// `backlog`, enqueued before them, which that worker's claims leave out. `--modes=except`
// (default): `backlog` has flow control (`concurrency: 1`), so the worker claims it on its own and
// the rest as every queue but it; `queues`: it has none, and the worker is given
// `queues: ['default', 'other']`; `limited`: the default queue has flow control
// (`concurrency: 20`), `backlog` none, and the worker is given `queues: ['default']`; `none`: no
// queue has flow control and the worker claims every queue (with `--later` or no backlog).
// `--priorities=N` spreads the default queue's tasks over priorities 0 to N - 1 (default 1);
// `--later` schedules the backlog for tomorrow, each at a priority of its own below the default
// queue's (down to -30,000), so every claim starts among priorities with nothing due. Each
// measurement runs in a process of its own, on a table of its own; the clock runs from the
// worker's start until the database shows every task of the default queue finished.
// With ASYNC_TASK_BASELINE=<a built checkout>, that build is measured too, in the same run.
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { databaseUrl, mysqlUrl } from './systems.mjs';

const args = new Map(
  process.argv.slice(2).map((arg) => {
    const [key, value] = arg.replace(/^--/, '').split('=');
    return [key, value ?? 'true'];
  }),
);

if (args.has('child')) {
  await child();
} else {
  await parent();
}

async function parent() {
  const dialects = (args.get('dialects') ?? 'postgres,mysql,sqlite').split(',');
  const backlogs = (args.get('backlog') ?? '0,200000').split(',').map(Number);
  const modes = (args.get('modes') ?? 'except').split(',');
  const count = Number(args.get('count') ?? 20_000);
  const priorities = Number(args.get('priorities') ?? 1);
  const later = args.has('later');
  const builds = [['current', new URL('../', import.meta.url).href]];
  const baseline = process.env.ASYNC_TASK_BASELINE;
  if (baseline) builds.push(['baseline', pathToFileURL(`${baseline.replace(/\/$/, '')}/`).href]);
  const rows = [];
  for (const dialect of dialects) {
    for (const mode of modes) {
      for (const backlog of backlogs) {
        const cells = [];
        for (const [build, root] of builds) {
          const result = await runChild([dialect, mode, backlog, count, root, priorities, later]);
          process.stderr.write(`${dialect} ${mode} ${backlog} ${build}: ${result.perSecond}/s\n`);
          cells.push(result.perSecond);
        }
        rows.push([dialect, mode, backlog, ...cells]);
      }
    }
  }
  console.log('# a queue drained beside another queue’s backlog');
  console.log(
    `node ${process.version}, ${os.cpus().length} cores; one worker { concurrency: 100 }`,
  );
  const spread = `${priorities.toLocaleString('en-US')} priorities`;
  const backlogDue = later ? 'tomorrow, a priority each' : 'now';
  console.log(
    `${count.toLocaleString('en-US')} no-op tasks of the default queue over ${spread}, enqueued` +
      ` after the backlog (due ${backlogDue})`,
  );
  const header = ['dialect', 'mode', 'backlog', ...builds.map(([build]) => `${build} (tasks/s)`)];
  if (builds.length === 2) header.push('current / baseline');
  console.log(`\n| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
  for (const [dialect, mode, backlog, ...cells] of rows) {
    const ratio = cells.length === 2 ? [`${(cells[0] / cells[1]).toFixed(2)}x`] : [];
    const shown = cells.map((n) => n.toLocaleString('en-US'));
    console.log(
      `| ${[dialect, mode, backlog.toLocaleString('en-US'), ...shown, ...ratio].join(' | ')} |`,
    );
  }
}

function runChild(childArgs) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [new URL(import.meta.url).pathname, '--child', ...childArgs.map(String)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child exited ${code}`)),
    );
  });
}

async function child() {
  const [dialect, mode, backlogText, countText, root, prioritiesText, laterText] =
    process.argv.slice(3);
  const backlog = Number(backlogText);
  const count = Number(countText);
  const priorities = Number(prioritiesText);
  const tomorrow = laterText === 'true' ? new Date(Date.now() + 86_400_000) : undefined;
  const lib = await import(new URL('dist/index.js', root).href);
  let done = 0;
  let allRan;
  const ran = new Promise((resolve) => (allRan = resolve));
  // The handlers' end, then the outcomes' writes: see below.
  const Bench = lib.defineTarget('Bench', {
    async fast(_args) {
      done += 1;
      if (done === count) allRan();
    },
    async later(_args) {},
  });
  const schema = `beside_${process.pid}`;
  let driver;
  let table;
  let close;
  let transaction;
  // Whether a task of the default queue is still pending or running, as the database shows it.
  let busy;
  if (dialect === 'postgres') {
    const { default: pg } = await import('pg');
    const { pgDriver } = await import(new URL('dist/drivers/pg.js', root).href);
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
    await pool.query(`CREATE SCHEMA ${schema}`);
    driver = pgDriver(pool);
    table = `${schema}.attempts`;
    transaction = async (fn) => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await fn(client);
        await client.query('COMMIT');
      } finally {
        client.release();
      }
    };
    busy = async () =>
      (
        await pool.query(
          `SELECT EXISTS (SELECT 1 FROM ${table} WHERE status = 'pending' AND queue = 'default')
             OR EXISTS (SELECT 1 FROM ${table}
               WHERE locked_until IS NOT NULL AND status = 'running' AND queue = 'default')
             AS busy`,
        )
      ).rows[0].busy;
    close = async () => {
      await pool.query(`DROP SCHEMA ${schema} CASCADE`);
      await pool.end();
    };
  } else if (dialect === 'mysql') {
    const { default: mysql } = await import('mysql2/promise');
    const { mysql2Driver } = await import(new URL('dist/drivers/mysql2.js', root).href);
    const pool = mysql.createPool({ uri: mysqlUrl, connectionLimit: 10 });
    driver = mysql2Driver(pool);
    table = `${schema}_attempts`;
    transaction = async (fn) => {
      const connection = await pool.getConnection();
      try {
        await connection.beginTransaction();
        await fn(connection);
        await connection.commit();
      } finally {
        connection.release();
      }
    };
    busy = async () => {
      const [rows] = await pool.query(
        `SELECT EXISTS (SELECT 1 FROM ${table} WHERE pending_queue = 'default')
           OR EXISTS (SELECT 1 FROM ${table} WHERE status = 'running' AND queue = 'default')
           AS busy`,
      );
      return Number(rows[0].busy) === 1;
    };
    close = async () => {
      for (const suffix of ['', '_starts', '_flow', '_workers']) {
        await pool.query(`DROP TABLE IF EXISTS ${table}${suffix}`);
      }
      await pool.query(`DROP PROCEDURE IF EXISTS ${table}_enqueue`);
      await pool.end();
    };
  } else {
    const { default: Database } = await import('better-sqlite3');
    const { betterSqlite3Driver } = await import(
      new URL('dist/drivers/better-sqlite3.js', root).href
    );
    const dir = join(os.tmpdir(), `async-task-${schema}`);
    mkdirSync(dir, { recursive: true });
    const db = new Database(join(dir, 'tasks.db'));
    driver = betterSqlite3Driver(db);
    transaction = async (fn) => {
      db.transaction(() => {
        fn(db);
      })();
    };
    // Prepared once the table is there (after migrate()).
    let check;
    busy = async () => {
      check ??= db.prepare(
        `SELECT EXISTS (SELECT 1 FROM async_task_attempts WHERE status = 'pending'
             AND queue = 'default')
           OR EXISTS (SELECT 1 FROM async_task_attempts WHERE status = 'running'
             AND queue = 'default') AS busy`,
      );
      return check.get().busy === 1;
    };
    close = async () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    };
  }
  const tasks = new lib.AsyncTask({
    driver,
    targets: [Bench],
    ...(table && { table }),
    ...(mode === 'except' && { queues: { backlog: { concurrency: 1 } } }),
    ...(mode === 'limited' && { queues: { default: { concurrency: 20 } } }),
  });
  try {
    await tasks.migrate();
    const load = async (total, item) => {
      for (let from = 0; from < total; from += 1000) {
        const n = Math.min(1000, total - from);
        await transaction((tx) =>
          tasks.enqueueMany(
            tx,
            Array.from({ length: n }, (_, i) => item(from + i)),
          ),
        );
      }
    };
    await load(backlog, (i) => ({
      method: Bench.later,
      args: { i },
      options: {
        queue: 'backlog',
        ...(tomorrow && { scheduledAt: tomorrow, priority: -1 - (i % 30_000) }),
      },
    }));
    await load(count, (i) => ({
      method: Bench.fast,
      args: { i },
      options: { priority: i % priorities },
    }));
    const worker = tasks.worker({
      concurrency: 100,
      ...(mode === 'queues' && { queues: ['default', 'other'] }),
      ...(mode === 'limited' && { queues: ['default'] }),
    });
    const started = performance.now();
    await worker.start();
    await ran;
    // Until the database shows every outcome of the default queue written.
    while (await busy()) await new Promise((resolve) => setTimeout(resolve, 2));
    const ended = performance.now();
    await worker.stop();
    process.stdout.write(
      JSON.stringify({ perSecond: Math.round(count / ((ended - started) / 1000)) }),
    );
  } finally {
    await close();
  }
}
