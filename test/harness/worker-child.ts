// A long-running worker in its own process, for the worker conformance tests (kill -9, many
// processes, shutdown). Environment: `harness.childEnv()` plus ASYNC_TASK_WORKER_OPTIONS (JSON
// WorkerOptions). Protocol on stdout, one line each, written synchronously (a pipe on Linux), so a
// line is in the parent's hands before the handler goes on:
//   ready <workerId>          the worker is running
//   start <id> <numAttempts>  a handler began
//   done <id> <numAttempts>   `side` committed its write and its success
//   timed <id> <key> <from> <to>  a `timed` run ended; it ran from..to (epoch ms, fractional)
//   aborted <id>              ctx.signal of a `hang` run was aborted
//   rescued <id> <status>     this worker's rescuer handed an expired lease back
//   error <during>            the worker reported an error (details on stderr)
//   stopped                   stop() resolved and the pool is closed (also without `ready`
//                             under ASYNC_TASK_CHILD_STOP_DURING_START, see below)
// stdin: `stop <timeoutMs>` calls worker.stop({ timeoutMs }) and closes the pool. The process is
// never told to exit: it must end by itself once the worker and the pool are gone.
import { createInterface } from 'node:readline';
import { AsyncTask, type WorkerOptions } from '../../src/index.js';
import { driverFromEnv } from './child-driver.js';
import { workerChildTarget } from './worker-child-target.js';

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** The side table's INSERT for the handler's transaction object, per dialect (as the fixtures do). */
function sideInserter(dialect: string, table: string): (tx: unknown, key: string) => Promise<void> {
  const database = table.includes('.') ? table.slice(0, table.lastIndexOf('.')) : null;
  switch (dialect) {
    case 'postgres': {
      const sql = `INSERT INTO ${database === null ? '' : `"${database}".`}side_effects (key) VALUES ($1)`;
      return async (tx, key) => {
        await (tx as { query(text: string, values: unknown[]): Promise<unknown> }).query(sql, [
          key,
        ]);
      };
    }
    case 'mysql': {
      const sql = `INSERT INTO ${database === null ? '' : `\`${database}\`.`}side_effects (\`key\`) VALUES (?)`;
      return async (tx, key) => {
        await (tx as { query(text: string, values: unknown[]): Promise<unknown> }).query(sql, [
          key,
        ]);
      };
    }
    case 'sqlite':
      // better-sqlite3's run() returns at once; the Kysely child's returns a promise.
      return async (tx, key) => {
        await (tx as { prepare(sql: string): { run(...params: unknown[]): unknown } })
          .prepare('INSERT INTO side_effects (key) VALUES (?)')
          .run(key);
      };
    case 'postgres/knex':
    case 'mysql/knex':
    case 'sqlite/knex': {
      const prefix =
        database === null ? '' : dialect === 'mysql/knex' ? `\`${database}\`.` : `"${database}".`;
      const sql = `INSERT INTO ${prefix}side_effects (${dialect === 'mysql/knex' ? '`key`' : 'key'}) VALUES (?)`;
      return async (tx, key) => {
        await (tx as { raw(sql: string, bindings: unknown[]): Promise<unknown> }).raw(sql, [key]);
      };
    }
    default:
      throw new Error(`worker-child: unknown dialect ${dialect}`);
  }
}

const options = JSON.parse(process.env['ASYNC_TASK_WORKER_OPTIONS'] ?? '{}') as WorkerOptions;
const { driver, table, close } = await driverFromEnv();
const target = workerChildTarget({
  started: (ctx) => {
    say(`start ${ctx.attempt.id} ${ctx.attempt.numAttempts}`);
    if (ctx.attempt.methodName === 'hang') {
      const id = ctx.attempt.id;
      ctx.signal.addEventListener('abort', () => say(`aborted ${id}`), { once: true });
    }
  },
  completed: (ctx) => say(`done ${ctx.attempt.id} ${ctx.attempt.numAttempts}`),
  timed: (ctx, key, from, to) => say(`timed ${ctx.attempt.id} ${key} ${from} ${to}`),
  insertSide: sideInserter(process.env['ASYNC_TASK_CHILD_DIALECT'] ?? '', table),
});
// ASYNC_TASK_WORKER_SCHEDULES: JSON [{ name, cron, method (a method name of the target), args,
// catchUp? }], the schedules this child's AsyncTask runs.
const schedules = (
  JSON.parse(process.env['ASYNC_TASK_WORKER_SCHEDULES'] ?? '[]') as {
    name: string;
    cron: string;
    method: 'slow';
    args: { ms: number };
    catchUp?: number;
  }[]
).map((schedule) => ({ ...schedule, method: target[schedule.method] }));
// ASYNC_TASK_WORKER_QUEUES: JSON, the AsyncTask's `queues` (flow control).
const queues = JSON.parse(process.env['ASYNC_TASK_WORKER_QUEUES'] ?? '{}') as Record<
  string,
  { concurrency?: number; keyConcurrency?: number; fairness?: 'key' }
>;
const tasks = new AsyncTask({ driver, table, targets: [target], schedules, queues });
const worker = tasks.worker(options);
worker.on('rescued', ({ attempt }) => say(`rescued ${attempt.id} ${attempt.status}`));
worker.on('error', ({ error, during }) => {
  say(`error ${during}`);
  process.stderr.write(`worker error during ${during}: ${String(error)}\n`);
});
// ASYNC_TASK_CHILD_STOP_DURING_START=1: stop() right behind start(), while start() still checks
// the schema; then close the pool and say `stopped`. The process must end by itself.
if (process.env['ASYNC_TASK_CHILD_STOP_DURING_START'] === '1') {
  await Promise.all([worker.start(), worker.stop({ timeoutMs: 1_000 })]);
  await close();
  say('stopped');
} else {
  await worker.start();
  const lines = createInterface({ input: process.stdin });
  let stopping = false;
  const stop = async (timeoutMs: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    lines.close();
    await worker.stop({ timeoutMs });
    await close();
    say('stopped');
  };
  lines.on('line', (line) => {
    const [command, argument] = line.split(' ');
    if (command === 'stop') void stop(Number(argument ?? 30_000));
  });
  // The parent went away without a word: stop rather than linger.
  lines.on('close', () => void stop(30_000));
  say(`ready ${worker.id}`);
}
